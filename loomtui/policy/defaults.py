"""The default policy, as the commented `policy.toml` that `loomtui init` writes.

Loading this text gives exactly the built-in defaults (a missing policy.toml reads it),
so the documentation and the behaviour cannot drift apart.
"""

DEFAULT_POLICY_TEXT = '''\
# LoomTUI policy: what agents may do without asking.
#
# Every action an agent takes (a tool call) is classified by the rules below:
#   allow  answer "allow": the agent's own permission prompt is skipped
#   pass   no opinion: the agent's own permission flow decides (the default)
#   gate   wait for a supervisor to approve or reject it in the console
#   deny   refuse at once, with the rule's reason (shown to the agent so it can adapt)
#
# Rules are tried in order; the FIRST rule that matches decides. A Bash command line
# is split into its simple commands first (`a && b | c`, `$(...)`, `bash -c '...'`,
# `sudo ...` and so on: `loomtui policy check -- CMD` shows the result); each simple
# command gets its first matching rule and the STRICTEST answer wins
# (allow < pass < gate < deny; between equals, the higher risk). A line that cannot
# be analysed (unbalanced quotes, a program name held in a variable, ...) is gated.
#
# A rule has a `name`, an `action`, a `risk` (low, medium, high, critical; default
# medium), an optional one-line `reason` and an optional `expires_after` (seconds a
# gate may wait before it is denied; the pod's default otherwise). Then matchers;
# all that are given must match, and each takes a string or a list of strings (any
# of them may match):
#
#   tool           tool names: "Bash", "Edit|Write", globs such as "mcp__github__*".
#                  Without it, a rule with Bash matchers applies to Bash, a rule with
#                  only `path` to Edit, Write, MultiEdit, NotebookEdit (and to the
#                  files a Bash command writes with > or tee), any other rule to all.
#   command        globs on the normalized simple command, which starts with the
#                  program's base name, wrappers and git's global options removed:
#                  `sudo /usr/bin/git -C x push -f` reads "git push -f". A glob matches
#                  the leading words: "git push" matches "git push origin main", not
#                  "git pushd". `*` matches any text (spaces too), `?` one character.
#   command_regex  Python regular expressions searched in that same line (anchor them
#                  with ^). A command matches if any `command` or `command_regex` does.
#   flags          options, any of which must be present: "-f" also inside a cluster
#                  ("-fu"), "--force" also as "--force=x" or an abbreviation ("--forc").
#   target         where the command's non-option arguments point, resolved against
#                  the agent's directory: "inside" (all strictly inside the worktree),
#                  "outside" (any not inside, or not knowable), "root" (any of /, ~,
#                  $HOME, a parent of ~, or a glob right under them such as /*).
#   stdin          where standard input comes from: pipe, heredoc, herestring, file,
#                  none. For a shell, set only when it reads its commands from there.
#   path           globs on the file an Edit/Write/MultiEdit/NotebookEdit changes,
#                  relative to the repository: `*` stays within a directory, `**`
#                  crosses them ("**/migrations/**"); a glob without "/" matches the
#                  file name at any depth (".env", "*.pem").
#   repo           globs on the repository path; without "/" on its directory name.
#   agent          globs on the agent's name.
#
# What the analysis cannot see: code in other languages (`python -c "..."`), scripts
# run by name, aliases and functions defined elsewhere, git aliases from git config.
# Set strict_interpreters = true to gate python, node, ruby, perl, php, ... when they
# are given code inline (-c, -e, a here-document or a pipe).
#
# -- built-in protection rules (not in this file, and no file can remove them) --------
#
# These are part of LoomTUI and are tried before the rules below; their answers join
# the rules' answers and the strictest wins, so a rule here can make them stricter,
# never looser (`default_action = "allow"` included). `loomtui policy check` shows them.
#
#   protect-pod-files     deny   Edit/Write/MultiEdit/NotebookEdit of a file inside the
#                                pod directory (this one) or the audit witness directory;
#                                `..`, `~` and symlinks are resolved.
#   protect-pod-commands  deny   a Bash command that names the pod directory or a file in
#                                it (any word, a `python -c` string, a redirection, a
#                                here-document, relative paths and symlinks resolved),
#                                reads $LOOM_HOME, or names loom.db (-wal, -shm); a glob
#                                that could name them (`p?d/lo?m.db`, `-name 'lo*.db'`).
#   protect-decisions     deny   loomtui's decision commands run by an agent: approve,
#                                reject, grant, revoke, budget changes, policy changes,
#                                init --shared / --no-sandbox, memory accept, reject, pin,
#                                unpin, retire, edit and add --pin (however loomtui is
#                                started).
#   protect-agent-wiring  gate   changes to the agent's own hooks, permissions and MCP
#                                servers: .claude/settings*.json, ~/.claude.json,
#                                $CLAUDE_CONFIG_DIR/settings*.json, .codex/ and ~/.codex,
#                                .mcp.json, the .claude directory itself, Claude Code's
#                                managed settings (/etc/claude-code), globs naming them,
#                                `loomtui init claude|codex` (high risk).
#   protect-sandbox       gate   a Bash call asking to run outside the agent's sandbox
#                                (dangerouslyDisableSandbox: true; high risk).
#   protect-processes     deny   kill, pkill or killall aimed at LoomTUI's processes.
#   protect-loomtui-install deny LoomTUI's own code: its installed package and the
#                                `loomtui` script its hooks run (a gate for a source tree
#                                installed editable); gate pip/pipx/uv installing or
#                                removing loomtui, or --force-reinstall (high risk).
#
# They stop honest mistakes and the obvious attempts; the agent's own sandbox (which
# `loomtui init` turns on) is what keeps its commands out of the pod directory.

default_action = "pass"       # for actions no rule matches
strict_interpreters = false

# -- files: secrets are never written by agents; migrations are reviewed ----------

[[rule]]
name = "env-examples"
action = "pass"
risk = "low"
path = [".env.example", ".env.sample", ".env.template", ".env.dist"]
reason = "example environment files hold no secrets"

[[rule]]
name = "secrets"
action = "deny"
risk = "critical"
path = [".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
        "*.p12", "*.pfx"]
reason = "secrets and keys are not written by agents; ask a person to change this file"

[[rule]]
name = "migration-files"
action = "gate"
risk = "high"
path = ["**/migrations/**", "**/alembic/versions/**", "**/db/migrate/**"]
reason = "a database migration; a supervisor reviews schema changes"

# -- deleting files ----------------------------------------------------------------

[[rule]]
name = "rm-root"
action = "deny"
risk = "critical"
command = "rm"
flags = ["-r", "-R", "--recursive"]
target = "root"
reason = "recursive deletion of /, the home directory or everything under them"

[[rule]]
name = "rm-outside"
action = "gate"
risk = "high"
command = "rm"
flags = ["-r", "-R", "--recursive"]
target = "outside"
reason = "recursive deletion outside the agent's worktree"

# -- git: publishing and rewriting history -------------------------------------------

[[rule]]
name = "git-force-push"
action = "gate"
risk = "critical"
command = "git push"
flags = ["-f", "--force", "--force-with-lease", "--force-if-includes", "--mirror"]
reason = "a force push rewrites the remote's history"

[[rule]]
name = "git-force-push-refspec"
action = "gate"
risk = "critical"
command = "git push* +*"
reason = "a +refspec force-pushes, rewriting the remote's history"

[[rule]]
name = "git-push-delete"
action = "gate"
risk = "high"
command = "git push"
flags = ["-d", "--delete", "--prune"]
reason = "deletes branches or tags on the remote"

[[rule]]
name = "git-push-delete-refspec"
action = "gate"
risk = "high"
command = "git push* :*"
reason = "a :refspec deletes a branch or tag on the remote"

[[rule]]
name = "git-push"
action = "gate"
risk = "high"
command = "git push"
reason = "pushing publishes work; a supervisor approves it"

[[rule]]
name = "git-reset-hard"
action = "gate"
risk = "high"
command = "git reset"
flags = ["--hard"]
reason = "git reset --hard throws away uncommitted work"

[[rule]]
name = "git-branch-delete"
action = "gate"
risk = "high"
command = "git branch"
flags = ["-d", "-D", "--delete"]
reason = "deletes a branch"

[[rule]]
name = "git-tag-delete"
action = "gate"
risk = "high"
command = "git tag"
flags = ["-d", "--delete"]
reason = "deletes a tag"

[[rule]]
name = "gh-pr-merge"
action = "gate"
risk = "high"
command = ["gh pr merge"]
reason = "merging a pull request changes the shared branch"

[[rule]]
name = "gh-delete"
action = "gate"
risk = "critical"
command = ["gh repo delete", "gh release delete"]
reason = "deletes a repository or a release on GitHub"

# -- publishing packages -------------------------------------------------------------

[[rule]]
name = "publish"
action = "gate"
risk = "high"
command = ["npm publish", "pnpm publish", "yarn publish", "yarn npm publish", "twine upload",
           "python* -m twine upload", "cargo publish", "poetry publish", "gem push", "uv publish",
           "flit publish", "hatch publish"]
reason = "publishing a package cannot be taken back"

# -- infrastructure ---------------------------------------------------------------------

[[rule]]
name = "terraform-destroy"
action = "gate"
risk = "critical"
command_regex = '^(terraform|tofu)( -chdir=\\S+)? (destroy( |$)|apply .*-destroy( |=|$))'
reason = "destroys infrastructure"

[[rule]]
name = "terraform-apply"
action = "gate"
risk = "high"
command_regex = '^(terraform|tofu)( -chdir=\\S+)? (apply|import|state (rm|mv|push))( |$)'
reason = "changes infrastructure"

[[rule]]
name = "kubectl-change"
action = "gate"
risk = "high"
command_regex = '^kubectl( -\\S+( [^-\\s]\\S*)?)* (apply|delete|replace|patch|edit|scale|drain|rollout|create|set)( |$)'
reason = "changes a Kubernetes cluster"

[[rule]]
name = "helm-change"
action = "gate"
risk = "high"
command_regex = '^helm( -\\S+( [^-\\s]\\S*)?)* (install|upgrade|uninstall|delete|rollback)( |$)'
reason = "changes a Kubernetes cluster"

# -- databases ------------------------------------------------------------------------

[[rule]]
name = "db-migrate"
action = "gate"
risk = "high"
command = ["alembic upgrade", "alembic downgrade", "alembic stamp", "manage.py migrate",
           "python* *manage.py migrate", "django-admin migrate", "rails db:*", "rake db:*",
           "flask db upgrade", "flask db downgrade", "prisma migrate *", "prisma db push",
           "sequelize db:migrate*", "knex migrate:*", "dbmate up", "dbmate migrate",
           "dbmate down", "dbmate rollback", "flyway migrate", "liquibase update"]
reason = "runs a database migration"

# -- remote code ------------------------------------------------------------------------

[[rule]]
name = "pipe-to-shell"
action = "gate"
risk = "critical"
command = ["sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "source", "."]
stdin = "pipe"
reason = "runs commands piped from another program (curl ... | sh), which nobody has read"

# -- examples -------------------------------------------------------------------------
#
# The first matching rule decides, so a rule that refines a default goes above it.
#
# [[rule]]                       # let agents run the test suite without asking
# name = "tests"
# action = "allow"
# risk = "low"
# command = ["pytest", "npm test", "cargo test"]
#
# [[rule]]                       # a supervisor sees every GitHub write through MCP
# name = "github-mcp-writes"
# action = "gate"
# risk = "medium"
# tool = ["mcp__github__create_*", "mcp__github__merge_*", "mcp__github__delete_*"]
# expires_after = 1800
#
# [[rule]]                       # production repositories: every push is critical
# name = "prod-push"
# action = "gate"
# risk = "critical"
# repo = "*-prod"
# command = "git push"
'''
