; Inno Setup 6 script for Cairn (Windows x64). Built by `python packaging/build.py` on Windows,
; which freezes the app first and passes the defines below; by hand:
;   iscc /DAppVersion=0.1.0 /DSourceDir=C:\path\to\packaging\dist\cairn packaging\windows\cairn.iss
;
; Data policy (tested by tests/packaging/test_build.py):
;   * the installer and uninstaller only ever remove files under {app} (the program folder);
;   * the user's documents are never touched;
;   * Cairn's index, settings and models live in %LOCALAPPDATA%\Cairn (platformdirs). They survive
;     upgrades and are kept on uninstall, unless the user explicitly answers "Yes" to the
;     question at the end of an interactive uninstall (default "No"; silent uninstalls keep them).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\dist\cairn"
#endif
#ifndef OutputDir
  #define OutputDir "..\dist"
#endif
#ifndef OutputBaseFilename
  #define OutputBaseFilename "cairn-windows-x64-setup"
#endif
#define AppName "Cairn"
#define AppExe "cairn.exe"

[Setup]
; Never change AppId: upgrades find the previous installation through it.
AppId={{5B0F4C36-7E7A-4D35-9C0E-CA1A2B3D4E5F}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Cairn
AppComments=Local-first knowledge assistant: answers about your documents, with citations, offline.
; Per-user install by default (no admin prompt): {autopf} is then %LOCALAPPDATA%\Programs.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
DefaultDirName={autopf}\{#AppName}
UsePreviousAppDir=yes
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#OutputDir}
OutputBaseFilename={#OutputBaseFilename}
SetupIconFile=..\icons\cairn.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/normal
SolidCompression=yes
WizardStyle=modern
; An upgrade closes a running Cairn first (Restart Manager) and restarts it afterwards.
CloseApplications=yes
RestartApplications=yes
; Signing (placeholder): configure a sign tool in the IDE/command line, e.g.
;   iscc "/Ssigntool=signtool.exe sign /fd sha256 /tr http://timestamp.example /td sha256 /a $f" …
; and uncomment:
; SignTool=signtool
; SignedUninstaller=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; Upgrades replace the frozen runtime wholesale so no stale library of the old version lingers.
; Only the program folder's own runtime; a bundled models\ folder is replaced by [Files] if present.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Ask questions about your documents"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only what lives in the program folder. Installed files are removed automatically; these catch
; anything the runtime may have added there (never the user's data, which is not in {app}).
Type: filesandordirs; Name: "{app}\_internal"
Type: dirifempty; Name: "{app}"

[Code]
const
  DataFolderName = 'Cairn';

function CairnDataDir(): String;
begin
  { platformdirs.user_data_dir("Cairn", appauthor=False) on Windows }
  Result := ExpandConstant('{localappdata}\') + DataFolderName;
end;

procedure DeleteCairnData(const Dir: String);
begin
  { Only what Cairn itself writes; anything else a user put there stays. }
  DelTree(Dir + '\index', True, True, True);
  DelTree(Dir + '\models', True, True, True);
  DelTree(Dir + '\traces', True, True, True);
  DelTree(Dir + '\logs', True, True, True);
  DeleteFile(Dir + '\settings.json');
  DeleteFile(Dir + '\cairn.lock');
  RemoveDir(Dir);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Dir: String;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  Dir := CairnDataDir();
  if UninstallSilent() or not DirExists(Dir) then
    exit;  { silent uninstalls (and upgrades) always keep the index and settings }
  if MsgBox('Cairn has been removed.' + #13#10#13#10 +
            'Also delete its index, settings and downloaded models in' + #13#10 + Dir + '?' +
            #13#10#13#10 + 'Your documents are not affected either way. Choose No to keep ' +
            'them for a later reinstall.',
            mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
    DeleteCairnData(Dir);
end;
