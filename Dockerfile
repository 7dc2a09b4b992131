FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY processor ./processor
COPY migrations ./migrations
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system --home /app faxbounce
ENV FAXBOUNCE_MIGRATIONS=/app/migrations \
    FAXBOUNCE_SMTP_HOST=0.0.0.0
USER faxbounce
EXPOSE 2525 9125
CMD ["faxbounce", "serve"]
