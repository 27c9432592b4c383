"""Retrieval quality on a small labelled set: 40 entries a pod of agents on one
web shop would keep, and 40 questions an agent would ask in its own words (not
the titles'). The right entry must be in the top 3 for at least 90 % of them."""

from __future__ import annotations

import pytest

from loomtui.memory import entries, retrieval
from loomtui.store.db import connect, db_path

NOW = 1_800_000_000.0
DAY = 86400.0

# key: (kind, title, body, tags)
CORPUS = {
    "postgres": ("decision", "Use PostgreSQL 16 for all services",
                 "MySQL is not supported; staging and prod run Postgres 16 on RDS.", "db,postgres"),
    "migrate": ("convention", "Database migrations run only through `make migrate`",
                "Never run alembic directly: the Makefile sets the environment and takes the lock.",
                "db,alembic"),
    "flaky": ("warning", "Login integration tests are flaky on CI",
              "test_login_redirect fails about 1 in 10 on CI (a race with the fake OAuth server); "
              "rerun before debugging.", "tests,auth,ci"),
    "tokens": ("fact", "Access tokens expire after 15 minutes",
               "Refresh tokens last 30 days; see src/auth/tokens.py.", "auth,jwt"),
    "ruff": ("convention", "Python code is formatted with ruff format",
             "Line length 100; run `ruff format` before committing; black is no longer used.",
             "style,python"),
    "rest": ("decision", "The public API uses REST with JSON, not GraphQL", "", "api"),
    "staging": ("fact", "Staging URL is https://stg.shop.example",
                "Merges to main deploy to staging.", "staging,deploy"),
    "main": ("warning", "Never push directly to main",
             "main is protected: open a pull request; direct pushes are rejected.", "git"),
    "ratelimit": ("todo", "Add rate limiting to the checkout endpoint",
                  "POST /checkout has no limiter; use the redis token bucket in src/limits.",
                  "api,checkout"),
    "webhook": ("handoff", "Payment webhook refactor half done",
                "The Stripe webhook handler moved to src/payments/webhooks.py; signature "
                "verification is still to do; tests in tests/payments pass.", "payments,stripe"),
    "redis": ("fact", "Redis 7.2 is the cache and the queue broker",
              "Celery uses Redis db 1; the cache uses db 0.", "redis,celery"),
    "flags": ("convention", "Feature flags live in config/flags.yaml",
              "Read them with flags.enabled('name'); never hard-code environment checks.", "flags"),
    "orders": ("warning", "The orders table is huge: no full scans",
               "120M rows; always filter by customer_id or created_at (indexed); ask before adding "
               "an index.", "db,performance"),
    "zustand": ("decision", "Frontend state management uses Zustand",
                "Redux was removed in 2026-09; do not bring it back.", "frontend,react"),
    "image": ("fact", "Docker images are built with `make image`",
              "Multi-stage Dockerfile in deploy/; images are tagged with the git sha.", "docker,build"),
    "commits": ("convention", "Commit messages follow Conventional Commits",
                "feat:, fix:, chore: ...; the changelog is generated from them.", "git"),
    "pydantic": ("warning", "Do not upgrade pydantic past 2.x without the team",
                 "The v3 migration breaks our custom validators.", "deps,python"),
    "vault": ("fact", "Secrets come from Vault, never from .env files in the repository", "",
              "security,secrets"),
    "searchdocs": ("todo", "Write docs for the search API filters", "", "docs,api"),
    "celery": ("decision", "Background jobs run on Celery, not RQ", "", "jobs,celery"),
    "testdb": ("fact", "The test database is recreated for each test session",
               "The db_session fixture in tests/conftest.py; use the factories in tests/factories.py.",
               "tests,db"),
    "utc": ("convention", "Use UTC everywhere; convert to local time only in the UI", "", "time"),
    "uploads": ("warning", "Image uploads over 10 MB crash the thumbnailer",
                "Pillow runs out of memory; resize on the client or reject above 10 MB.",
                "images,uploads"),
    "loki": ("fact", "Logs go to Loki; dashboards are in the Grafana folder 'shop'", "",
             "observability,logging"),
    "opensearch": ("handoff", "Search indexing job migrated to OpenSearch",
                   "The old Elasticsearch cluster runs until 2026-12; the reindex script is "
                   "scripts/reindex.py.", "search"),
    "rebase": ("decision", "Feature branches are rebased, not merged", "", "git"),
    "ci": ("fact", "CI runs on GitHub Actions; the full suite takes 12 minutes", "", "ci"),
    "problem": ("convention", "HTTP handlers return errors as RFC 7807 problem+json", "", "api,errors"),
    "email": ("warning", "The email provider's sandbox only delivers to @example.com", "",
              "email,staging"),
    "v1": ("todo", "Remove the legacy v1 mobile endpoints after 2027-01", "", "api,mobile"),
    "node": ("fact", "Node 22 is required for the frontend build", "", "frontend,node"),
    "openapi": ("convention", "Every new endpoint needs an OpenAPI description", "", "api,docs"),
    "cents": ("fact", "Prices are stored in integer cents",
              "Never use floats for money; the currency is a separate column.", "money,db"),
    "e2e": ("warning", "Running the full e2e suite locally needs 8 GB of RAM", "", "tests,e2e"),
    "pkce": ("decision", "Authentication uses OAuth2 with PKCE for the mobile app", "", "auth,mobile"),
    "i18n": ("fact", "Translations live in locales/*.po and are compiled at build time", "", "i18n"),
    "structlog": ("convention", "Use structured logging with structlog, never print", "",
                  "logging,python"),
    "cron": ("todo", "Replace the cron-based cleanup with a Celery beat task", "", "jobs"),
    "admin": ("fact", "The admin panel is at /admin and needs the staff role", "", "admin"),
    "reports": ("warning", "Time zone bug: daily reports use server time",
                "Reports are generated at midnight server time (CET), not UTC; a fix is pending.",
                "reports,time"),
}

QUERIES = {
    "which database should I use": "postgres",
    "how do I apply a schema migration": "migrate",
    "login test keeps failing in CI": "flaky",
    "how long is a JWT valid": "tokens",
    "code formatter and line length": "ruff",
    "graphql or rest for the api": "rest",
    "address of the staging environment": "staging",
    "can I push my commits to main": "main",
    "rate limit for checkout": "ratelimit",
    "stripe webhook signature": "webhook",
    "which redis db does celery use": "redis",
    "toggle a feature with a flag": "flags",
    "query on the orders table is slow": "orders",
    "redux or zustand": "zustand",
    "build the docker image": "image",
    "commit message format": "commits",
    "upgrade pydantic to v3": "pydantic",
    "where do credentials and secrets come from": "vault",
    "background job queue": "celery",
    "test database fixtures": "testdb",
    "store timestamps in utc": "utc",
    "large image upload crashes": "uploads",
    "where can I find the logs": "loki",
    "elasticsearch reindex": "opensearch",
    "merge or rebase my branch": "rebase",
    "how long does the CI take": "ci",
    "error response format for the http api": "problem",
    "test emails are not delivered": "email",
    "delete old mobile endpoints": "v1",
    "node version for the frontend": "node",
    "openapi description for a new endpoint": "openapi",
    "floats for money amounts": "cents",
    "e2e tests run out of memory": "e2e",
    "mobile app login with oauth": "pkce",
    "translation files": "i18n",
    "print statements or a logger": "structlog",
    "cron cleanup": "cron",
    "access to the admin panel": "admin",
    "daily report shows the wrong time": "reports",
    "who finished the payments work": "webhook",
}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> tuple:
    conn = connect(db_path(tmp_path_factory.mktemp("pod")))
    ids = {}
    for i, (key, (kind, title, body, tags)) in enumerate(CORPUS.items()):
        entry = entries.add(conn, kind=kind, title=title, body=body, tags=tags,
                            author=entries.supervisor("ana"), now=NOW - (i % 17) * 5 * DAY)
        ids[entry.id] = key
    yield conn, ids
    conn.close()


def test_the_right_entry_is_in_the_top_3_for_90_percent_of_queries(labelled) -> None:
    conn, ids = labelled
    misses = []
    for query, wanted in QUERIES.items():
        top = [ids[h.entry.id] for h in retrieval.rank(conn, query, now=NOW, limit=3)]
        if wanted not in top:
            misses.append(f"{query!r}: wanted {wanted}, got {top}")
    hit_rate = 1 - len(misses) / len(QUERIES)
    print(f"top-3 hit rate {hit_rate:.0%}; misses: {misses}")
    assert hit_rate >= 0.9, misses


def test_the_labelled_set_is_what_it_claims(labelled) -> None:
    assert len(CORPUS) == 40 and len(QUERIES) == 40
    assert set(QUERIES.values()) <= set(CORPUS)
    for query, wanted in QUERIES.items():  # the questions are not the titles
        assert query.lower() not in CORPUS[wanted][1].lower()


def test_search_is_the_same_through_the_budgeted_document(labelled) -> None:
    conn, ids = labelled
    doc = retrieval.search_result(conn, "which postgres version", now=NOW, k=3, budget_tokens=4000)
    assert [ids[r["id"]] for r in doc["results"]][:1] == ["postgres"]


@pytest.mark.parametrize("common_df", [2, 4])
def test_quality_holds_when_common_words_are_left_out_of_the_match(labelled, monkeypatch,
                                                                   common_df: int) -> None:
    """In a big store, words in more than COMMON_DF entries are left out of the match
    (they would make every search a scan); here a tiny threshold plays that store."""
    conn, ids = labelled
    monkeypatch.setattr(retrieval, "COMMON_DF", common_df)
    hits = sum(wanted in [ids[h.entry.id] for h in retrieval.rank(conn, query, now=NOW, limit=3)]
               for query, wanted in QUERIES.items())
    print(f"COMMON_DF={common_df}: top-3 hit rate {hits / len(QUERIES):.0%}")
    assert hits / len(QUERIES) >= 0.9


def test_all_common_words_still_find_entries(labelled, monkeypatch) -> None:
    conn, ids = labelled
    monkeypatch.setattr(retrieval, "COMMON_DF", 1)
    both = [ids[h.entry.id] for h in retrieval.rank(conn, "api docs", now=NOW, limit=3)]
    assert both[:2] in (["openapi", "searchdocs"], ["searchdocs", "openapi"])  # both words first
    one = [ids[h.entry.id] for h in retrieval.rank(conn, "celery", now=NOW, limit=5)]
    assert set(one) == {"redis", "celery", "cron"}  # every entry with the word
