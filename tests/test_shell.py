"""The shell analysis (loomtui.policy.shell), unit level: what simple commands a
Bash line runs, as the policy sees them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loomtui.policy.shell import ShellError, SimpleCommand, analyse, inline_code


def lines(text: str) -> list[str]:
    return [c.line for c in analyse(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("git status", ["git status"]),
    ("a; b && c || d | e & f", ["a", "b", "c", "d", "e", "f"]),
    ("a\nb\n\nc", ["a", "b", "c"]),
    ("a |& b", ["a", "b"]),
    ("(a; b) && { c; }", ["a", "b", "c"]),
    ("echo $(git push) `ls -l`", ["git push", "ls -l", "echo $(git push) `ls -l`"]),
    ('echo "x $(a "y" $(b))"', ["b", "a y $(b)", 'echo x $(a "y" $(b))']),
    ("diff <(sort a) >(tee b)", ["sort a", "tee b", "diff <(sort a) >(tee b)"]),
    ("echo ${x:-$(git push)}", ["git push", "echo ${x:-$(git push)}"]),
    ("if a; then b; elif c; then d; else e; fi", ["a", "b", "c", "d", "e"]),
    ("while a; do b; done; until c; do d; done", ["a", "b", "c", "d"]),
    ("for i in $(seq 3); do echo $i; done", ["seq 3", "echo $i"]),
    ("for ((i=0; i<3; i++)); do x; done", ["x"]),
    ("case $x in a|b) one;; (c) two ;; *) three;; esac; after", ["one", "two", "three", "after"]),
    ("f() { git push; }; function g { ls; }", ["git push", "ls"]),
    ("! a && time -p b", ["a", "b"]),
    ("x=1 y=$(pwd); z=2 git push", ["pwd", "git push"]),
    ("A=(1 2 $(b)); c", ["b", "c"]),
    ("echo $(( 1 + $(b) )); (( i++ )); c", ["b", "echo $(( 1 + $(b) ))", "c"]),
    ("[[ -n $x && $y < 3 ]] && ls", ["[[ -n $x && $y 3 ]]", "ls"]),
    ("ls # git push", ["ls"]),
    ("a \\\n  --flag", ["a --flag"]),
])
def test_splits_into_simple_commands(text, expected):
    assert lines(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ('"git" push', "git push"),
    ("\\git push", "git push"),
    ("'g'it push", "git push"),
    ("g''it push", "git push"),
    ("$'\\x67it' push", "git push"),
    ("$'\\147it' push", "git push"),
    ("/usr/bin/git push", "git push"),
    ("./node_modules/.bin/prisma migrate deploy", "prisma migrate deploy"),
    ('git commit -m "a  b"', "git commit -m a  b"),
    ("echo 'it''s'", "echo its"),
    ('echo "a\\"b\\$c"', 'echo a"b$c'),
])
def test_quotes_and_backslashes_are_resolved(text, expected):
    assert lines(text) == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    ("git -C /tmp push", ["git push"]),
    ("git -c user.name=x -c core.pager=cat push -f", ["git push -f"]),
    ("git --git-dir=/x/.git --work-tree /x --no-pager push", ["git push"]),
    ("git --no-pager -P log --oneline", ["git log --oneline"]),
    ("env FOO=1 BAR=2 git push", ["env FOO=1 BAR=2", "git push"]),
    ("env -i -u HOME git push", ["env -i -u HOME", "git push"]),
    ('env -S "git push" origin', ["env -S git push", "git push origin"]),
    ("sudo -u x -E git push", ["sudo -u x -E", "git push"]),
    ("sudo --user=x FOO=1 git push", ["sudo --user=x FOO=1", "git push"]),
    ("doas -u x git push", ["doas -u x", "git push"]),
    ("nohup git push &", ["nohup", "git push"]),
    ("time git push", ["git push"]),
    ("command git push", ["command", "git push"]),
    ("command -v git", ["command -v git"]),
    ("exec -a name git push", ["exec -a name", "git push"]),
    ("nice -n 5 git push", ["nice -n 5", "git push"]),
    ("nice -10 git push", ["nice -10", "git push"]),
    ("timeout -s KILL 5 git push", ["timeout -s KILL 5", "git push"]),
    ("stdbuf -oL git push", ["stdbuf -oL", "git push"]),
    ("xargs -n 1 -I{} git push {}", ["xargs -n 1 -I{}", "git push {}"]),
    ("npx -y prisma migrate deploy", ["npx -y", "prisma migrate deploy"]),
    ("bundle exec rake db:migrate", ["bundle exec", "rake db:migrate"]),
    ("uv run --with x python manage.py migrate", ["uv run --with x", "python manage.py migrate"]),
    ("watch -n 1 'git push; ls'", ["watch -n 1", "git push", "ls"]),
    ("sudo nohup env X=1 timeout 5 git push", ["sudo", "nohup", "env X=1", "timeout 5", "git push"]),
])
def test_wrappers_are_looked_through_and_reported(text, expected):
    assert lines(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("bash -c 'git push'", ["bash -c", "git push"]),
    ("sh -lc \"a && b\"", ["sh -lc", "a", "b"]),
    ("zsh -c 'sh -c \"eval git push\"'", ["zsh -c", "sh -c", "eval", "git push"]),
    ("eval 'git push; ls'", ["eval", "git push", "ls"]),
    ("eval git push", ["eval", "git push"]),
    ("su -c 'git push' root", ["su", "git push"]),
    ("find . -name '*.o' -exec rm -f {} \\;", ["find . -name *.o -exec rm -f {} ;", "rm -f ./{}"]),
    ("find /var -execdir sh -c 'git push' \\;", ["find /var -execdir sh -c git push ;", "sh -c", "git push"]),
    ("bash script.sh arg", ["bash script.sh arg"]),
])
def test_strings_run_by_a_shell_are_analysed(text, expected):
    assert lines(text) == expected


def test_heredoc_bodies_are_data_but_unquoted_ones_expand():
    assert lines("cat <<EOF\ngit push\nrm -rf /\nEOF\nls") == ["cat", "ls"]
    assert lines("cat <<'EOF' > x\n$(git push)\nEOF") == ["cat"]
    assert lines("cat <<EOF\nhello $(git push) `ls`\nEOF") == ["cat", "git push", "ls"]
    assert lines("cat <<-EOF\n\tgit push\n\tEOF\necho done") == ["cat", "echo done"]
    # Two here-documents on one line: bodies in order.
    assert lines("cat <<A; cat <<B\none\nA\ntwo\nB\nls") == ["cat", "cat", "ls"]


def test_a_shell_fed_a_heredoc_or_herestring_runs_it():
    assert lines("bash <<'EOF'\ngit push\nEOF") == ["bash", "git push"]
    assert lines("sh -s <<EOF\nls; git push\nEOF") == ["sh -s", "ls", "git push"]
    assert lines("bash <<< 'git push'") == ["bash", "git push"]


def test_stdin_kinds():
    cmds = analyse("curl -s x | sh; sh < f; cat <<E\nx\nE\ncat <<< hi; bash <(curl y); bash -c ls | cat")
    by_line = [(c.line, c.stdin) for c in cmds]
    assert ("sh", "pipe") in by_line
    assert ("sh", "file") in by_line
    assert ("cat", "heredoc") in by_line
    assert ("cat", "herestring") in by_line
    assert ("bash", "pipe") in by_line  # bash <(...): commands from another program
    assert ("bash -c", "") in by_line   # -c: stdin is data, not commands
    assert ("cat", "pipe") in by_line


def test_redirections_and_tee_are_writes_not_arguments():
    (cmd,) = analyse("echo hi > out.txt 2>&1 >> log 2> err &> all")
    assert cmd.argv == ("echo", "hi")
    assert cmd.writes == ("out.txt", "log", "err", "all")
    (tee,) = analyse("tee -a .env")
    assert tee.writes == (".env",)
    (read,) = analyse("wc -l < input.txt")
    assert read.argv == ("wc", "-l") and read.writes == ()


def test_cd_is_followed_for_later_commands():
    cmds = analyse("cd sub && rm -rf x; cd /; rm -rf y; cd $D; rm z")
    assert [(c.line, c.cwd) for c in cmds if c.program == "rm"] == [
        ("rm -rf x", "sub"), ("rm -rf y", "/"), ("rm z", None)]
    assert [c.cwd for c in analyse("cd; ls")][-1] == "~"
    # A cd inside bash -c does not move the outer shell.
    assert analyse("bash -c 'cd /'; ls")[-1].cwd == "."


def test_words_known_only_at_run_time_are_marked():
    (cmd,) = analyse('git push origin "$BRANCH" ${X} {a,b} plain')
    assert cmd.argv == ("git", "push", "origin", "$BRANCH", "${X}", "{a,b}", "plain")
    assert cmd.dynamic == {3, 4, 5}


@pytest.mark.parametrize(("text", "why"), [
    ('echo "unbalanced', "double quote"),
    ("echo 'unbalanced", "single quote"),
    ("echo `unbalanced", "backtick"),
    ("echo $(unbalanced", "missing ')'"),
    ("(a", "missing ')'"),
    ("a)", "unbalanced ')'"),
    ("$CMD push", "only known at run time"),
    ("${CMD} push", "only known at run time"),
    ('"$CMD" push', "only known at run time"),
    ("$(echo git) push", "only known at run time"),
    ("`echo git` push", "only known at run time"),
    ("eval $X", "eval of a string only known at run time"),
    ('bash -c "$X"', "bash -c of a string only known at run time"),
    ("g?t push", "pattern"),
    ("/usr/bin/gi* push", "pattern"),
    ("{git,push}", "pattern"),
    ("git -c alias.p=push p", "git alias"),
    ("echo >", "without a target"),
    ("case x in a) b;;", "case without esac"),
    ("for i in 1 2", "without do"),
    ("bash -c", "without a command string"),
])
def test_unanalysable_lines_raise(text, why):
    with pytest.raises(ShellError, match=why.replace("(", r"\(").replace(")", r"\)")):
        analyse(text)


def test_an_error_keeps_what_was_found_before_it():
    with pytest.raises(ShellError) as caught:
        analyse("rm -rf /; $X")
    assert [c.line for c in caught.value.partial] == ["rm -rf /"]
    with pytest.raises(ShellError) as caught:
        analyse("`rm -rf /`")
    assert [c.line for c in caught.value.partial] == ["rm -rf /"]


def test_deep_nesting_is_refused_not_crashed():
    text = "bash -c " + "'" + "eval " * 5 + "ls'"
    assert lines(text)[-1] == "ls"
    with pytest.raises(ShellError, match="nested too deeply"):
        analyse("$(" * 200 + "ls" + ")" * 200)


def test_empty_and_comment_only_lines_have_no_commands():
    assert analyse("") == ()
    assert analyse("   # just a note\n\n") == ()
    assert analyse("X=1") == ()


@pytest.mark.parametrize(("text", "inline"), [
    ("python -c 'import os'", True),
    ("python3 -Bc 'x'", True),
    ("python3.12 -c x", True),
    ("node -e 'x'", True),
    ("node --eval x", True),
    ("perl -ne 'print'", True),
    ("ruby -e x", True),
    ("php -r 'echo 1;'", True),
    ("python - <<EOF\nprint(1)\nEOF", True),
    ("curl x | python3", True),
    ("deno eval 'x'", True),
    ("python script.py", False),
    ("python -m pytest -q", False),
    ("python", False),
    ("node server.js", False),
    ("cat data | python script.py", False),
    ("perl -I lib script.pl", False),
    ("echo python -c x", False),
])
def test_inline_interpreter_code_is_recognised(text, inline):
    assert any(inline_code(c) for c in analyse(text)) is inline


def test_simple_command_line_and_program():
    cmd = SimpleCommand(("git", "push", "origin"))
    assert cmd.program == "git" and cmd.line == "git push origin"
    assert SimpleCommand(()).program == ""


PIECES = list("ab gitpush-rf/~$(){}[];&|<>\"'`\\\n#=*?!,.") + [
    "git ", "push ", "rm ", "-rf ", "bash -c ", "eval ", "<<EOF\n", "EOF\n", "$(", "${", "case ",
    " in ", ";;", "esac", "for ", "do ", "done", "if ", "then ", "fi", "sudo ", "env ", "-C ",
    "xargs ", "find . -exec ", "\\;", "$'\\x67'", "((", "))", "<(", "function ", "tee ", "> ",
    "2>&1", "cd ", "..", "$HOME", "~/", "timeout ", "-S ", "watch ",
]


@settings(max_examples=3000, deadline=None, database=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=25).map("".join))
def test_random_input_raises_nothing_but_shell_error(text: str) -> None:
    """Whatever an agent sends, the analysis answers or says it cannot: never crashes."""
    try:
        analyse(text)
    except ShellError:
        pass
