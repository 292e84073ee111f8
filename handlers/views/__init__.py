"""What several routers or jobs share: rendering (texts, cards, keyboards, charts) and the
building blocks every router uses alike (wizard steps, paging, translations, the lint, the
command menus). No router and no SQL lives here; a handler stays in its feature's router."""
