"""`ModelHub`: the one place that turns settings into loaded models, lazily, and reports state.

Built once per entry point (CLI, GUI, test fixture) from plain arguments: `models` does not know
`indexer`'s Settings, the indexer passes the values in. Each model loads on first request behind
its own lock, so preparing the 1.1 GB chat model never blocks embedding. Backends are chosen by
name; the heavy imports (fastembed, onnxruntime, llama_cpp) happen only inside the chosen
branch, so `fake` runs need none of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.catalog import CATALOG, DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDER
from models.embedder import Embedder, FakeEmbedder
from models.errors import ModelError, ModelLoadError, ModelUnavailableError
from models.generator import FakeGenerator, Generator

log = logging.getLogger(__name__)

Role = Literal["embedder", "generator"]
Status = Literal["not_loaded", "loading", "ready", "missing", "failed"]
EMBEDDER_BACKENDS = ("fastembed", "fake")
GENERATOR_BACKENDS = ("llama_cpp", "server", "fake")


@dataclass(frozen=True)
class ModelState:
    """What the status bar shows for one model role."""

    status: Status
    detail: str = ""
    model_id: str = ""


def remote_reason(address: str) -> str:
    """What the privacy view says of a team model server, in the user's words."""
    return f"answers from {address}: your documents' passages are sent there (chat_endpoint)"


class ModelHub:
    """Lazily loaded embedder and generator, shared by the whole process.

    `on_state(role, state)` (optional) is called from whichever thread changes a state, e.g.
    the GUI turns it into a Qt signal. `close()` frees both models.
    """

    def __init__(
        self,
        models_dir: Path,
        embedder_backend: str = "fastembed",
        embedder_model: str = DEFAULT_EMBEDDER,
        generator_backend: str = "llama_cpp",
        chat_model: str = DEFAULT_CHAT_MODEL,
        n_threads: int = 0,
        n_gpu_layers: int = -1,
        n_ctx: int = 4096,
        embed_threads: int = 0,
        embed_batch_size: int = 32,
        *,
        chat_endpoint: str = "",
        chat_endpoint_model: str = "",
        chat_api_key: str = "",
        on_state: Callable[[Role, ModelState], None] | None = None,
    ) -> None:
        if embedder_backend not in EMBEDDER_BACKENDS:
            raise ModelError(
                f"Unknown embedder backend {embedder_backend!r}.",
                hint=f"Use one of: {', '.join(EMBEDDER_BACKENDS)}.",
            )
        if generator_backend not in GENERATOR_BACKENDS:
            raise ModelError(
                f"Unknown generator backend {generator_backend!r}.",
                hint=f"Use one of: {', '.join(GENERATOR_BACKENDS)}.",
            )
        self.models_dir = Path(models_dir)
        self.embedder_backend = embedder_backend
        self.embedder_model = embedder_model
        self.generator_backend = generator_backend
        self.chat_model = chat_model
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self.n_ctx = n_ctx
        self.embed_threads = embed_threads
        self.embed_batch_size = embed_batch_size
        self.chat_endpoint = chat_endpoint
        self.chat_endpoint_model = chat_endpoint_model
        self._chat_api_key = chat_api_key
        self._on_state = on_state
        self._locks: dict[Role, threading.Lock] = {
            "embedder": threading.Lock(),
            "generator": threading.Lock(),
        }
        self._state_lock = threading.Lock()
        self._states: dict[Role, ModelState] = {
            "embedder": ModelState("not_loaded", model_id=self._embedder_label()),
            "generator": ModelState("not_loaded", model_id=self._generator_label()),
        }
        self._embedder: Embedder | None = None
        self._generator: Generator | None = None
        self._allowed_endpoint: tuple[str, int] | None = None

    # -- state ----------------------------------------------------------------------------

    def _embedder_label(self) -> str:
        return "fake" if self.embedder_backend == "fake" else self.embedder_model

    def _generator_label(self) -> str:
        if self.generator_backend == "server":
            try:
                where = self.endpoint_address
            except ModelError:
                where = self.chat_endpoint or "no address"
            return f"{self.chat_endpoint_model or 'server default'} @ {where}"
        return "fake" if self.generator_backend == "fake" else self.chat_model

    @property
    def endpoint_address(self) -> str | None:
        """"host:port" of the team model server answers come from, or None when local."""
        if self.generator_backend != "server":
            return None
        from models.remote_generator import endpoint_address

        host, port = endpoint_address(self.chat_endpoint)
        return f"{host}:{port}"

    def _set(self, role: Role, status: Status, detail: str = "", model_id: str = "") -> None:
        with self._state_lock:
            state = ModelState(status, detail, model_id or self._states[role].model_id)
            self._states[role] = state
        if self._on_state is not None:
            try:
                self._on_state(role, state)
            except Exception:  # a broken listener must not break loading
                log.exception("model state listener failed")

    def state(self) -> dict[Role, ModelState]:
        """A snapshot of both roles' states."""
        with self._state_lock:
            return dict(self._states)

    @property
    def chat_model_id(self) -> str:
        """The chat model's id (catalog id, file stem, or the fake's), without loading it."""
        if self._generator is not None:
            return self._generator.model_id
        if self.generator_backend == "fake":
            return FakeGenerator().model_id
        if self.generator_backend == "server":
            return self._generator_label()
        spec = CATALOG.get(self.chat_model)
        return spec.id if spec is not None else Path(self.chat_model).stem

    @property
    def embedder_model_id(self) -> str:
        """The embedder's id as vectors are recorded with it; loads nothing for catalog ids."""
        if self._embedder is not None:
            return self._embedder.model_id
        identity = self.embedder_identity()
        return identity[0] if identity is not None else self._custom_embedder_id()

    def _custom_embedder_id(self) -> str:
        return f"local:{Path(self.embedder_model).expanduser().resolve().name}"

    def embedder_identity(self) -> tuple[str, int] | None:
        """(model id, dim) the embedder will have, without loading it, when known up front.

        Lets the store check that its vectors match before anything is loaded; None for a user
        folder (known only after loading).
        """
        if self.embedder_backend == "fake":
            fake = FakeEmbedder()
            return fake.model_id, fake.dim
        spec = CATALOG.get(self.embedder_model)
        if spec is not None and spec.dim is not None:
            return spec.id, spec.dim
        return None

    # -- loading --------------------------------------------------------------------------

    def _load(self, role: Role, build: Callable[[], Any]) -> Any:
        self._set(role, "loading")
        try:
            model = build()
        except ModelUnavailableError as exc:
            self._set(role, "missing", str(exc))
            raise
        except ModelError as exc:
            self._set(role, "failed", str(exc))
            raise
        except Exception as exc:
            log.exception("loading the %s failed", role)
            self._set(role, "failed", f"{type(exc).__name__}: {exc}")
            raise ModelLoadError(
                f"Loading the {role} failed: {exc}", hint="See the log for details."
            ) from exc
        self._set(role, "ready", model_id=model.model_id)
        return model

    def embedder(self) -> Embedder:
        """The embedder, loaded on first call (blocks while loading)."""
        with self._locks["embedder"]:
            if self._embedder is None:
                self._embedder = self._load("embedder", self._build_embedder)
            return self._embedder

    def generator(self) -> Generator:
        """The chat model, prepared and loaded on first call (blocks; may take seconds)."""
        with self._locks["generator"]:
            if self._generator is None:
                self._generator = self._load("generator", self._build_generator)
            return self._generator

    def _build_embedder(self) -> Embedder:
        if self.embedder_backend == "fake":
            return FakeEmbedder()
        from models.embedder import FastEmbedEmbedder
        from models.provisioning import resolve_embedder_dir

        model_dir = resolve_embedder_dir(self.embedder_model, self.models_dir)
        spec = CATALOG.get(self.embedder_model)
        model_id = spec.id if spec is not None else self._custom_embedder_id()
        embedder = FastEmbedEmbedder(
            model_dir,
            model_id,
            threads=self.embed_threads,
            batch_size=self.embed_batch_size,
            dim=spec.dim if spec is not None else None,
        )
        embedder.load()
        return embedder

    def _build_generator(self) -> Generator:
        if self.generator_backend == "fake":
            return FakeGenerator(context_size=self.n_ctx)
        if self.generator_backend == "server":
            return self._build_remote_generator()
        from models.generator import LlamaCppGenerator
        from models.provisioning import resolve_chat_model

        last_percent = -1

        def progress(done: int, total: int) -> None:
            nonlocal last_percent
            percent = done * 100 // total if total else 0
            if percent != last_percent:  # ~100 state updates for a 1.1 GB join, not ~300
                last_percent = percent
                self._set("generator", "loading", f"preparing model files: {percent}%")

        path = resolve_chat_model(self.chat_model, self.models_dir, progress=progress)
        self._set("generator", "loading", f"loading {path.name}")
        spec = CATALOG.get(self.chat_model)
        generator = LlamaCppGenerator(
            path,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_gpu_layers=self.n_gpu_layers,
            chat_format=spec.chat_format if spec is not None else None,
            model_id=spec.id if spec is not None else path.stem,
        )
        generator.load()
        return generator

    def _build_remote_generator(self) -> Generator:
        """The team's model server: the egress guard lets exactly its host and port through."""
        from models.offline import allow_endpoint
        from models.remote_generator import RemoteGenerator

        if not self.chat_endpoint.strip():
            raise ModelUnavailableError(
                "Answers from a model server need its address.",
                hint="Set chat_endpoint, e.g. http://gpu-box.lan:8000/v1 "
                "(`cairn models endpoint URL`).",
            )
        generator = RemoteGenerator(
            self.chat_endpoint, model=self.chat_endpoint_model, api_key=self._chat_api_key,
            context_size=self.n_ctx,
        )  # fmt: skip
        allow_endpoint(generator.host, generator.port, remote_reason(generator.address))
        self._allowed_endpoint = (generator.host, generator.port)
        self._set("generator", "loading", f"asking {generator.address} for its model")
        generator.load()
        return generator

    # -- shutdown -------------------------------------------------------------------------

    def close(self) -> None:
        """Free both models; a later request loads them again."""
        roles: tuple[Role, ...] = ("embedder", "generator")
        for role in roles:
            with self._locks[role]:
                model: Any = self._embedder if role == "embedder" else self._generator
                if model is not None and hasattr(model, "close"):
                    try:
                        model.close()
                    except Exception:
                        log.exception("closing the %s failed", role)
                if role == "embedder":
                    self._embedder = None
                else:
                    self._generator = None
            if role == "generator" and self._allowed_endpoint is not None:
                from models.offline import forget_endpoint

                forget_endpoint(*self._allowed_endpoint)  # the server is no longer in use
                self._allowed_endpoint = None
            label = self._embedder_label() if role == "embedder" else self._generator_label()
            self._set(role, "not_loaded", model_id=label)
