"""PostgreSQL: tables, migrations, the model registry (the one served-version query), the
prediction log and its async driver, retention. Built on the domain and core layers."""
