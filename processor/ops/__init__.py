"""Operations: metrics and health, retention, and the report."""
