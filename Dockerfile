FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY processor ./processor
COPY migrations ./migrations
COPY config ./config
# The start-up caches (parsed catalogues, compiled patterns, record classes' code) are written here, as root: the
# service user cannot write into site-packages, so without this every process would build them anew.
RUN pip install --no-cache-dir . && python -m processor.caches && useradd --system --home /app faxbounce
ENV FAXBOUNCE_MIGRATIONS=/app/migrations \
    FAXBOUNCE_SMTP_HOST=0.0.0.0
USER faxbounce
EXPOSE 2525 9125
CMD ["faxbounce", "serve"]
