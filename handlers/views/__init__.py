"""Rendering shared by several routers or by jobs: text only, no SQL and no Telegram calls."""
