"""What the bot serves over HTTP: the dashboard and its Mini App pages, product photos for
invoices, and the probes and metrics (/healthz, /readyz, /metrics)."""
