"""The `local` backend: notebook servers as processes on this machine.

Run as root, each campus user gets a system account of their own (prefix +
name, home 0700) and their server runs as that account, so users cannot read
each other's files. Run as an ordinary user ("personal mode"), every server
runs as that one account with a directory per user under data_dir: handy on
a laptop, but users are not isolated, and `campushub up` says so.
"""

from __future__ import annotations

import asyncio
import os
import pwd
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Bool, Unicode

from campushub.compute.system_users import ensure_system_user


class CampusLocalSpawner(LocalProcessSpawner):
    """LocalProcessSpawner that maps campus users to system accounts (or to per-user dirs)."""

    isolate_users = Bool(
        True, help="Run each user's server as their own system account (requires running as root)."
    ).tag(config=True)
    user_prefix = Unicode("nb-", help="Prefix of the system account made for each campus user.").tag(config=True)
    home_base = Unicode("/home", help="Parent directory of the system accounts' homes.").tag(config=True)
    personal_root = Unicode(help="Parent of per-user directories in personal mode.").tag(config=True)

    @property
    def system_username(self) -> str:
        if not self.isolate_users:
            return pwd.getpwuid(os.getuid()).pw_name
        return self.user_prefix + self.user.name

    @property
    def user_home(self) -> str:
        if self.isolate_users:
            return pwd.getpwnam(self.system_username).pw_dir
        return str(Path(self.personal_root) / self.user.name)

    async def start(self) -> tuple[str, int]:
        if self.isolate_users:
            await asyncio.get_running_loop().run_in_executor(
                None, ensure_system_user, self.system_username, Path(self.home_base) / self.system_username
            )
            mode = os.stat(self.user_home).st_mode & 0o777
            if mode & 0o077:
                # An account that existed before CampusHub keeps its mode; say so rather than change it.
                self.log.warning(
                    "Home %s of %s has mode %o: other accounts can read it. `chmod 700 %s` makes it private.",
                    self.user_home,
                    self.system_username,
                    mode,
                    self.user_home,
                )
        else:
            Path(self.user_home).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.notebook_dir = self.user_home
        return await super().start()

    def make_preexec_fn(self, name: str):
        if self.isolate_users:
            return set_user_setuid(self.system_username)
        home = self.user_home

        def enter_user_dir() -> None:
            os.chdir(home)

        return enter_user_dir

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        entry = pwd.getpwnam(self.system_username)
        env["USER"] = entry.pw_name
        env["LOGNAME"] = entry.pw_name
        env["HOME"] = self.user_home
        env["SHELL"] = entry.pw_shell or "/bin/bash"
        return env
