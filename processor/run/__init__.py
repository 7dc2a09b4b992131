"""Running: the daemon (SMTP listener plus worker processes), the worker loop and the pipeline that joins the stages."""
