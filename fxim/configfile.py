# -*- test-case-name: fxim.test.e2e.test_configfile -*-
"""
The configuration file (TOML, C{--config PATH}) and C{FXIM_*} environment
variables of C{twistd fxim}.

Both are derived from the L{usage.Options} class itself, so every option
(including ones added later, by anyone) has a file key and an environment
variable without being listed here:

  - file key: the long option name without C{--} (C{max-frame-size = 1000});
    repeatable options (C{opt_*} methods such as C{--disable-plugin}) take
    a TOML array.
  - environment variable: C{FXIM_} + the name upper-cased with C{_} for
    C{-} (C{FXIM_DATABASE}, C{FXIM_ADMIN_SECRET_FILE}); this keeps
    passwords out of the process list.

Precedence: command line > environment > file > defaults.
"""

import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from twisted.python import usage

#: Options that steer this module and so have no file key.
META_OPTIONS = ("config", "generate-config", "help", "version")


def envName(option: str) -> str:
    """
    C{max-frame-size} -> C{FXIM_MAX_FRAME_SIZE}.
    """
    return "FXIM_" + option.upper().replace("-", "_")


def parameters(options: usage.Options) -> Dict[str, Tuple[Any, str, Optional[Callable]]]:
    """
    C{{name: (default, help, coerce)}} of every C{optParameters} row.
    """
    rows: Dict[str, Tuple[Any, str, Optional[Callable]]] = {}
    for row in getattr(options, "optParameters", []):
        name, _, default, doc = (list(row) + [None, None, None, ""])[:4]
        coerce = row[4] if len(row) > 4 else None
        if name not in META_OPTIONS:
            rows[name] = (default, doc or "", coerce)
    return rows


def flags(options: usage.Options) -> Dict[str, str]:
    """
    C{{name: help}} of every C{optFlags} row.
    """
    return {row[0]: (row[2] if len(row) > 2 else "") for row in getattr(options, "optFlags", [])
            if row[0] not in META_OPTIONS}


def repeatables(options: usage.Options) -> Dict[str, str]:
    """
    C{{name: help}} of every C{opt_*} method taking one argument (repeatable
    options such as C{--disable-plugin}).
    """
    found = {}
    for attribute in dir(type(options)):
        if not attribute.startswith("opt_"):
            continue
        name = attribute[4:].replace("_", "-")
        if name in META_OPTIONS or name in parameters(options) or name in flags(options):
            continue
        method = getattr(options, attribute)
        code = getattr(method, "__code__", None)
        if code is not None and code.co_argcount == 2:
            found[name] = (method.__doc__ or "").strip()
    return found


def _coerce(name: str, value: Any, coerce: Optional[Callable]) -> Any:
    if isinstance(value, (list, dict)):
        raise usage.UsageError(f"{name}: expected a single value, not {type(value).__name__}")
    if coerce is None:
        return value if isinstance(value, str) else str(value)
    try:
        return coerce(value if isinstance(value, str) else str(value))
    except (TypeError, ValueError) as e:
        raise usage.UsageError(f"{name}: {e}")


def loadFile(path: str) -> Dict[str, Any]:
    """
    Read a TOML file.

    @raise usage.UsageError: if it cannot be read or parsed.
    """
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise usage.UsageError(f"--config {path}: {e.strerror or e}")
    except tomllib.TOMLDecodeError as e:
        raise usage.UsageError(f"--config {path}: not valid TOML: {e}")


def apply(options: usage.Options, fileValues: Mapping[str, Any],
          environ: Mapping[str, str]) -> None:
    """
    Set C{options} from the file, then the environment (which wins); the
    command line is parsed afterwards and wins over both.

    @raise usage.UsageError: for an unknown file key or a bad value.
    """
    params, flagRows, lists = parameters(options), flags(options), repeatables(options)
    for source, values in (("config file", dict(fileValues)),
                           ("environment", _fromEnv(environ, params, flagRows, lists))):
        for key, value in values.items():
            where = f"{source} key {key!r}" if source == "config file" else envName(key)
            if key in params:
                options[key] = _coerce(where, value, params[key][2])
            elif key in flagRows:
                options[key] = int(_truthy(where, value))
            elif key in lists:
                method = getattr(options, "opt_" + key.replace("-", "_"))
                items = value if isinstance(value, list) else [
                    v for v in str(value).split(",") if v.strip()]
                for item in items:
                    method(str(item).strip())
            else:
                raise usage.UsageError(f"unknown {where} (see twistd fxim --generate-config)")


def _fromEnv(environ: Mapping[str, str], *tables: Mapping[str, Any]) -> Dict[str, str]:
    known = {envName(name): name for table in tables for name in table}
    return {known[k]: v for k, v in environ.items() if k in known}


def _truthy(where: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise usage.UsageError(f"{where}: expected true or false, not {value!r}")


def _toml(value: Any) -> str:
    import json
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _comment(text: str) -> List[str]:
    import textwrap
    return ["# " + line for line in textwrap.wrap(" ".join(text.split()), 76)] or ["#"]


def generate(options: usage.Options) -> str:
    """
    A commented default configuration file: every key, commented out with
    its default value.
    """
    lines = [
        "# fxim configuration (TOML), read with: twistd fxim --config PATH",
        "# Every key is a command-line option without the leading \"--\".",
        "# Precedence: command line > FXIM_* environment variables > this file > defaults.",
        "# Keep passwords out of this file and the command line: set FXIM_DATABASE,",
        "# FXIM_REDIS (URLs with passwords) and FXIM_ADMIN_SECRET_FILE,",
        "# FXIM_HMAC_KEY_FILE in the service's environment instead.",
        "",
    ]
    for name, (default, doc, _) in parameters(options).items():
        lines += _comment(doc + f" (environment: {envName(name)})")
        lines.append(f"# {name} = {_toml(default) if default is not None else chr(34) * 2}")
        lines.append("")
    for name, doc in flags(options).items():
        lines += _comment(doc + f" (environment: {envName(name)})")
        lines.append(f"# {name} = false")
        lines.append("")
    for name, doc in repeatables(options).items():
        lines += _comment(doc + f" (repeatable; environment: {envName(name)}, comma-separated)")
        lines.append(f"# {name} = []")
        lines.append("")
    return "\n".join(lines)


def findConfigArgument(args: Iterable[str]) -> Tuple[Optional[str], bool]:
    """
    Pre-scan the command line for C{--config PATH} / C{--config=PATH} and
    C{--generate-config}.
    """
    path, generating = None, False
    args = list(args)
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--config" and i + 1 < len(args):
            path = args[i + 1]
        elif arg.startswith("--config="):
            path = arg[len("--config="):]
        elif arg == "--generate-config":
            generating = True
    return path, generating


def environment() -> Mapping[str, str]:
    """
    The process environment (a function so tests can replace it).
    """
    return os.environ
