"""Start the GUI: uvicorn on 127.0.0.1 (or ``--host``) with a fresh token, and open the browser."""

from __future__ import annotations

import ipaddress
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from vitreo.gui.security import TOKEN_QUERY, new_token

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def free_port(host: str) -> int:
    """A port the OS says is free on ``host``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def allowed_hosts(host: str) -> set[str] | None:
    """Host names a browser may use: the loopback names and ``host``; None (any) for a wildcard bind."""
    try:
        if ipaddress.ip_address(host).is_unspecified:
            return None
    except ValueError:
        pass
    return {*LOOPBACK_NAMES, host}


def start_url(host: str, port: int, token: str) -> str:
    """The URL that opens the GUI (and hands the browser its token)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/?{TOKEN_QUERY}={token}"


def serve(root: Path, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          echo: Callable[[str], None] = print, fragment: str = "") -> None:
    """Serve the project in ``root`` until interrupted (jobs started from the GUI go on).

    ``fragment`` is added to the start URL (``display=FILE`` opens FILE in a display view).
    """
    import uvicorn

    from vitreo.gui.app import create_app

    token = new_token()
    port = port or free_port(host)
    url = start_url(host, port, token) + (f"#{fragment}" if fragment else "")
    app = create_app(root, token, allowed_hosts(host))
    echo(f"vitreo GUI for {root.resolve()} at {url}")
    echo("keep this URL private: it holds the access token. Press Ctrl-C to stop the GUI (running jobs go on).")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["free_port", "allowed_hosts", "start_url", "serve"]
