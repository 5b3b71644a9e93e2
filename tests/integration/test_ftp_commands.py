"""FTP commands one by one over a raw control connection: reply codes (RFC 959, 2389, 2428,
3659, 7151), error paths, and what each command does on disk. Also the `passwd` and `check`
sub-commands of the binary."""

import calendar
import os
import re
import socket
import stat
import subprocess
import time

import pytest

from conftest import (PASSWORDS, Control, filegate_bin, parse_epsv, parse_pasv,
                      python_crypt_verify, run_passwd, to_yaml, transfer)


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory.start(anonymous=True)


@pytest.fixture
def ctl(server):
    """alice, logged in."""
    with Control.to(server) as c:
        c.login()
        yield c


@pytest.fixture
def area(server, request):
    """A fresh directory in alice's home for this test: (virtual path, disk path)."""
    name = re.sub(r"\W", "_", request.node.name)[:100]
    disk = server.home("alice") / name
    disk.mkdir()
    return "/" + name, disk


def mtime_utc(text):
    return calendar.timegm(time.strptime(text[:14], "%Y%m%d%H%M%S"))


def mlst_facts(reply):
    """The facts of an MLST reply: ({lower-cased fact: value}, path)."""
    fact_lines = [l for l in reply.lines[1:-1] if l.startswith(" ")]
    assert len(fact_lines) == 1, f"MLST must have exactly one fact line: {reply.text!r}"
    facts_text, _, path = fact_lines[0][1:].partition(" ")
    facts = {}
    for fact in facts_text.rstrip(";").split(";"):
        key, _, value = fact.partition("=")
        facts[key.lower()] = value
    return facts, path


# ---------------------------------------------------------------------------- the binary's CLI

def test_passwd_prints_a_sha512_crypt_hash_that_verifies():
    proc = run_passwd("correct horse battery staple")
    assert proc.returncode == 0, proc.stderr
    hashed = proc.stdout.strip()
    assert re.fullmatch(r"\$6\$[^$]+\$[./0-9A-Za-z]{86}", hashed), hashed
    assert python_crypt_verify("correct horse battery staple", hashed)
    assert not python_crypt_verify("wrong", hashed)
    assert "correct horse" not in proc.stdout + proc.stderr.replace(hashed, "")


def test_passwd_default_method_is_yescrypt():
    proc = subprocess.run([filegate_bin(), "passwd"], input="pw\n", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    hashed = proc.stdout.strip()
    assert hashed.startswith("$y$"), hashed
    assert python_crypt_verify("pw", hashed)


def test_check_accepts_the_test_config(server):
    proc = subprocess.run([filegate_bin(), "check", "--config", str(server.config_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_check_reports_file_line_and_key_of_a_bad_value(server, tmp_path):
    config = dict(server.config)
    config["users"] = [dict(config["users"][0], permissions="elrX")] + config["users"][1:]
    text = to_yaml(config)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    line = 1 + text.splitlines().index('    permissions: "elrX"')
    proc = subprocess.run([filegate_bin(), "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert re.search(rf"bad\.yaml:{line}: \S*permissions\S*: ", proc.stderr), proc.stderr


def test_run_with_an_invalid_config_exits_with_an_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text('ftp:\n  listen: ["not-an-address"]\nusers: []\n')
    proc = subprocess.run([filegate_bin(), "run", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "broken.yaml:2:" in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------- login

def test_greeting_is_220(server):
    with Control.to(server) as c:
        assert c.greeting.code == 220


def test_user_pass_login(server):
    with Control.to(server) as c:
        assert c.cmd("USER alice").code == 331
        assert c.cmd(f"PASS {PASSWORDS['alice']}").code == 230
        assert c.cmd("PWD").code == 257


def test_bad_password_is_530_after_a_delay(server):
    with Control.to(server) as c:
        assert c.cmd("USER alice").code == 331
        start = time.monotonic()
        r = c.cmd("PASS wrong-password")
        assert r.code == 530
        assert time.monotonic() - start >= 0.8, "failed login replied without the delay"
        assert c.cmd("PWD").code == 530


def test_unknown_user_looks_like_a_bad_password(server):
    with Control.to(server) as c:
        assert c.cmd("USER nosuchuser").code == 331
        start = time.monotonic()
        assert c.cmd("PASS whatever").code == 530
        assert time.monotonic() - start >= 0.8


def test_pass_without_user_is_503(server):
    with Control.to(server) as c:
        assert c.cmd(f"PASS {PASSWORDS['alice']}").code == 503


@pytest.mark.parametrize("command", [
    "PWD", "CWD /", "CDUP", "LIST", "NLST", "MLSD", "MLST /", "RETR x", "STOR x", "APPE x",
    "MKD x", "RMD x", "DELE x", "RNFR x", "SIZE x", "MDTM x", "PASV", "EPSV", "TYPE I",
    "PORT 127,0,0,1,200,10", "REST 0", "STAT /", "SITE CHMOD 644 x", "STOU", "ALLO 10",
    "MFMT 20200101000000 x", "MODE S", "STRU F", "ABOR",
])
def test_commands_need_login(server, command):
    with Control.to(server) as c:
        assert c.cmd(command).code == 530
        assert c.cmd("NOOP").code == 200


@pytest.mark.parametrize("command,code", [
    ("FEAT", 211), ("SYST", 215), ("HELP", 214), ("NOOP", 200), ("OPTS UTF8 ON", 200),
])
def test_commands_allowed_before_login(server, command, code):
    with Control.to(server) as c:
        assert c.cmd(command).code == code


def test_quit_is_221_and_closes(server):
    with Control.to(server) as c:
        assert c.cmd("QUIT").code == 221
        assert c.closed_by_server(5)


def test_quit_after_login(ctl):
    assert ctl.cmd("QUIT").code == 221
    assert ctl.closed_by_server(5)


def test_host_before_login_is_220_after_login_503(server):
    with Control.to(server) as c:
        assert c.cmd("HOST ftp.example.com").code == 220
        c.login()
        assert c.cmd("HOST ftp.example.com").code == 503


def test_rein_requires_a_new_login(ctl):
    assert ctl.cmd("REIN").code == 220
    assert ctl.cmd("PWD").code == 530
    ctl.login("bob")
    assert ctl.cmd("PWD").text.startswith('257 "/"')
    # bob, not alice, is logged in now: bob may not upload.
    assert ctl.cmd("MKD rein-test").code == 550


# ---------------------------------------------------------------------------- information

def test_unknown_verb_is_500(ctl):
    assert ctl.cmd("XYZZY").code == 500
    assert ctl.cmd("NOOP").code == 200


def test_verbs_are_case_insensitive(ctl):
    assert ctl.cmd("pwd").code == 257
    assert ctl.cmd("NoOp").code == 200


def test_syst(ctl):
    assert ctl.cmd("SYST").text == "215 UNIX Type: L8"


def test_feat_lists_the_extensions(ctl):
    r = ctl.cmd("FEAT")
    assert r.code == 211 and len(r.lines) > 2, r.text
    assert r.lines[0].startswith("211-") and r.lines[-1].startswith("211 ")
    features = [l[1:] for l in r.lines[1:-1]]
    assert all(l.startswith(" ") for l in r.lines[1:-1]), "RFC 2389: feature lines start with SP"
    names = {f.split(" ")[0].upper() for f in features}
    for wanted in ("EPRT", "EPSV", "HOST", "MDTM", "MFMT", "MLST", "PASV", "REST", "SIZE",
                   "UTF8"):
        assert wanted in names, f"FEAT lacks {wanted}: {r.text!r}"
    assert "REST STREAM" in [f.upper() for f in features]
    mlst = next(f for f in features if f.upper().startswith("MLST "))
    for fact in ("type", "size", "modify", "perm", "unique", "unix.mode"):
        assert fact in mlst.lower(), f"MLST feature lacks {fact}: {mlst!r}"
    assert not any(f.upper().startswith("AUTH") for f in features), \
        "AUTH TLS advertised though this build has no TLS"


def test_help(ctl):
    r = ctl.cmd("HELP")
    assert r.code == 214
    for verb in ("RETR", "STOR", "MLSD", "EPSV"):
        assert verb in r.text, f"HELP does not list {verb}"
    assert ctl.cmd("HELP RETR").code == 214


def test_every_verb_in_help_is_implemented(ctl):
    verbs = " ".join(ctl.cmd("HELP").lines[1:-1]).split()
    assert len(verbs) >= 30, verbs
    # Verbs that end the session or would start a transfer are exercised elsewhere.
    for verb in sorted(set(verbs) - {"QUIT", "REIN", "STOU", "LIST", "NLST", "MLSD"}):
        r = ctl.cmd(verb)
        assert r.code not in (500, 502), f"HELP lists {verb} but it is not implemented: {r.text}"


def test_x_aliases(ctl, area):
    vpath, disk = area
    assert ctl.cmd(f"XMKD {vpath}/x").code == 257
    assert ctl.cmd(f"XCWD {vpath}/x").code == 250
    assert ctl.cmd("XPWD").text.startswith(f'257 "{vpath}/x"')
    assert ctl.cmd("XCUP").code in (200, 250)
    assert ctl.cmd(f"XRMD {vpath}/x").code == 250
    assert not (disk / "x").exists()


def test_tls_is_not_offered_in_this_build(ctl):
    for command in ("AUTH TLS", "AUTH SSL", "PBSZ 0", "PROT P"):
        assert ctl.cmd(command).code == 502, command
    assert ctl.cmd("NOOP").code == 200  # still plaintext, still talking


@pytest.mark.parametrize("command", ["ACCT billing", "SMNT /mnt", "CCC"])
def test_obsolete_commands_are_502(ctl, command):
    assert ctl.cmd(command).code == 502


def test_noop(ctl):
    assert ctl.cmd("NOOP").code == 200


def test_stat_without_argument_is_211_multiline(ctl):
    r = ctl.cmd("STAT")
    assert r.code == 211 and len(r.lines) >= 2, r.text


def test_stat_of_a_directory_lists_it(ctl, area):
    vpath, disk = area
    (disk / "listed.txt").write_bytes(b"12345")
    r = ctl.cmd(f"STAT {vpath}")
    assert r.code in (211, 212, 213), r.text
    assert len(r.lines) >= 3, r.text
    line = next((l for l in r.lines if l.rstrip().endswith("listed.txt")), None)
    assert line is not None, r.text
    assert re.search(r"^\s*-[-rwxsStT]{9}\s+\d+\s+\S+\s+\S+\s+5\s", line), line


def test_stat_of_a_big_directory_lists_every_entry(ctl, area):
    """A listing on the control connection may be far longer than the backlog of unread replies
    the server keeps for a client that does not read: the whole reply arrives, the session goes
    on."""
    vpath, disk = area
    names = {f"entry-{i:05d}-with-a-longer-name.txt" for i in range(6000)}
    for name in names:
        (disk / name).touch()
    r = ctl.cmd(f"STAT {vpath}")
    assert r.code == 213, r.text[:300]
    assert {l.split()[-1] for l in r.lines[1:-1]} == names
    assert len(r.text) > 256 * 1024
    assert ctl.cmd("NOOP").code == 200


def test_stat_of_a_missing_path_is_an_error(ctl):
    assert ctl.cmd("STAT /no-such-dir-here").code in (450, 550)


# ---------------------------------------------------------------------------- navigation

def test_pwd_at_login_is_root(ctl):
    assert ctl.cmd("PWD").text.startswith('257 "/"')


def test_cwd_cdup_pwd(ctl, area):
    vpath, disk = area
    (disk / "sub").mkdir()
    assert ctl.cmd(f"CWD {vpath}/sub").code == 250
    assert ctl.cmd("PWD").text.startswith(f'257 "{vpath}/sub"')
    assert ctl.cmd("CDUP").code in (200, 250)
    assert ctl.cmd("PWD").text.startswith(f'257 "{vpath}"')
    assert ctl.cmd("CWD sub").code == 250  # relative
    assert ctl.cmd("PWD").text.startswith(f'257 "{vpath}/sub"')
    assert ctl.cmd("CWD /").code == 250
    assert ctl.cmd("PWD").text.startswith('257 "/"')


def test_cwd_to_missing_or_file_is_550(ctl, area):
    vpath, disk = area
    (disk / "file").write_bytes(b"x")
    assert ctl.cmd(f"CWD {vpath}/missing").code == 550
    assert ctl.cmd(f"CWD {vpath}/file").code == 550
    assert ctl.cmd("PWD").text.startswith('257 "/"')


def test_pwd_doubles_embedded_quotes(ctl, area):
    vpath, disk = area
    (disk / 'say "hi"').mkdir()
    assert ctl.cmd(f'CWD {vpath}/say "hi"').code == 250
    assert ctl.cmd("PWD").text.startswith(f'257 "{vpath}/say ""hi"""')


# ---------------------------------------------------------------------------- directories

def test_mkd_rmd(ctl, area):
    vpath, disk = area
    r = ctl.cmd(f"MKD {vpath}/newdir")
    assert r.code == 257 and f'"{vpath}/newdir"' in r.text, r.text
    assert (disk / "newdir").is_dir()
    assert ctl.cmd(f"MKD {vpath}/newdir").code == 550  # exists
    assert ctl.cmd(f"RMD {vpath}/newdir").code == 250
    assert not (disk / "newdir").exists()
    assert ctl.cmd(f"RMD {vpath}/newdir").code == 550  # gone


def test_mkd_relative_reply_names_the_absolute_path(ctl, area):
    vpath, disk = area
    assert ctl.cmd(f"CWD {vpath}").code == 250
    r = ctl.cmd("MKD rel")
    assert r.code == 257 and f'"{vpath}/rel"' in r.text, r.text
    assert (disk / "rel").is_dir()


def test_rmd_of_a_non_empty_directory_or_a_file_is_550(ctl, area):
    vpath, disk = area
    (disk / "full").mkdir()
    (disk / "full" / "f").write_bytes(b"x")
    (disk / "file").write_bytes(b"x")
    assert ctl.cmd(f"RMD {vpath}/full").code == 550
    assert ctl.cmd(f"RMD {vpath}/file").code == 550
    assert (disk / "full" / "f").exists() and (disk / "file").exists()


def test_mkd_name_of_255_bytes_works_256_is_553(ctl, area):
    vpath, disk = area
    assert ctl.cmd(f"MKD {vpath}/{'b' * 255}").code == 257
    assert (disk / ("b" * 255)).is_dir()
    assert ctl.cmd(f"MKD {vpath}/{'c' * 256}").code == 553
    assert ctl.cmd("NOOP").code == 200


# ---------------------------------------------------------------------------- files

def test_dele(ctl, area):
    vpath, disk = area
    (disk / "f").write_bytes(b"x")
    (disk / "d").mkdir()
    assert ctl.cmd(f"DELE {vpath}/f").code == 250
    assert not (disk / "f").exists()
    assert ctl.cmd(f"DELE {vpath}/f").code == 550
    assert ctl.cmd(f"DELE {vpath}/d").code == 550
    assert (disk / "d").is_dir()


def test_rnfr_rnto_file_and_directory(ctl, area):
    vpath, disk = area
    (disk / "a").write_bytes(b"content")
    (disk / "dir").mkdir()
    assert ctl.cmd(f"RNFR {vpath}/a").code == 350
    assert ctl.cmd(f"RNTO {vpath}/dir/b").code == 250
    assert (disk / "dir" / "b").read_bytes() == b"content" and not (disk / "a").exists()
    assert ctl.cmd(f"RNFR {vpath}/dir").code == 350
    assert ctl.cmd(f"RNTO {vpath}/dir2").code == 250
    assert (disk / "dir2" / "b").exists()


def test_rnfr_missing_is_550(ctl, area):
    vpath, _ = area
    assert ctl.cmd(f"RNFR {vpath}/missing").code == 550


def test_rnto_without_rnfr_is_503(ctl, area):
    vpath, _ = area
    assert ctl.cmd(f"RNTO {vpath}/x").code == 503


def test_rnto_name_too_long_is_553(ctl, area):
    vpath, disk = area
    (disk / "a").write_bytes(b"x")
    assert ctl.cmd(f"RNFR {vpath}/a").code == 350
    assert ctl.cmd(f"RNTO {vpath}/{'n' * 256}").code == 553
    assert (disk / "a").exists()


def test_size(ctl, area):
    vpath, disk = area
    (disk / "f").write_bytes(b"x" * 12345)
    (disk / "d").mkdir()
    assert ctl.cmd("TYPE I").code == 200
    assert ctl.cmd(f"SIZE {vpath}/f").text == "213 12345"
    assert ctl.cmd(f"SIZE {vpath}/missing").code == 550
    assert ctl.cmd(f"SIZE {vpath}/d").code == 550


def test_mdtm_reports_the_modification_time_in_utc(ctl, area):
    vpath, disk = area
    f = disk / "f"
    f.write_bytes(b"x")
    os.utime(f, (1_600_000_000, 1_600_000_000))  # 2020-09-13 12:26:40 UTC
    r = ctl.cmd(f"MDTM {vpath}/f")
    assert r.code == 213 and re.fullmatch(r"213 \d{14}(\.\d+)?", r.text), r.text
    assert r.text[4:18] == "20200913122640"
    assert ctl.cmd(f"MDTM {vpath}/missing").code == 550


def test_mfmt_sets_the_modification_time(ctl, area):
    vpath, disk = area
    (disk / "f").write_bytes(b"x")
    r = ctl.cmd(f"MFMT 20200102030405 {vpath}/f")
    assert r.code == 213 and "Modify=20200102030405;" in r.text and f"{vpath}/f" in r.text, r.text
    assert int((disk / "f").stat().st_mtime) == calendar.timegm((2020, 1, 2, 3, 4, 5))
    assert ctl.cmd(f"MDTM {vpath}/f").text.startswith("213 20200102030405")
    assert ctl.cmd(f"MFMT 2020010203 {vpath}/f").code == 501
    assert ctl.cmd(f"MFMT 20200102030405 {vpath}/missing").code == 550


def test_stou_creates_a_uniquely_named_file(ctl, area):
    vpath, disk = area
    assert ctl.cmd(f"CWD {vpath}").code == 250
    names = set()
    for payload in (b"first unique upload", b"second unique upload"):
        _, first, final = transfer(ctl, "STOU", upload=payload)
        assert first.code in (125, 150) and final.code == 226, (first, final)
        created = [p for p in disk.iterdir() if p.name not in names]
        assert len(created) == 1, created
        assert created[0].read_bytes() == payload
        assert created[0].name in first.text, f"STOU reply does not name the file: {first.text}"
        names.add(created[0].name)
    assert len(names) == 2


# ---------------------------------------------------------------------------- MLST and OPTS

def test_mlst_of_a_file(ctl, area):
    vpath, disk = area
    f = disk / "f.txt"
    f.write_bytes(b"hello")
    os.chmod(f, 0o640)
    os.utime(f, (1_600_000_000, 1_600_000_000))
    r = ctl.cmd(f"MLST {vpath}/f.txt")
    assert r.code == 250 and r.lines[0].startswith("250-") and r.lines[-1].startswith("250 "), \
        r.text
    facts, path = mlst_facts(r)
    assert path == f"{vpath}/f.txt"
    assert facts["type"] == "file"
    assert facts["size"] == "5"
    assert facts["modify"].startswith("20200913122640")
    assert facts["unix.mode"] in ("0640", "640")
    assert facts["unique"]
    for letter in "rwdf":  # alice may retrieve, store, delete, rename
        assert letter in facts["perm"], facts["perm"]


def test_mlst_of_a_directory_and_missing(ctl, area):
    vpath, _ = area
    facts, _ = mlst_facts(ctl.cmd(f"MLST {vpath}"))
    assert facts["type"] in ("dir", "cdir")
    assert ctl.cmd(f"MLST {vpath}/missing").code == 550


def test_mlst_perm_reflects_the_users_permissions(server):
    (server.home("bob") / "bobfile").write_bytes(b"x")
    with Control.to(server) as c:
        c.login("bob")
        facts, _ = mlst_facts(c.cmd("MLST /bobfile"))
        assert "r" in facts["perm"]
        assert not set("wdfa") & set(facts["perm"]), facts["perm"]


def test_opts_mlst_selects_facts(ctl, area):
    vpath, disk = area
    (disk / "f").write_bytes(b"abc")
    assert ctl.cmd("OPTS MLST type;size;").code == 200
    facts, _ = mlst_facts(ctl.cmd(f"MLST {vpath}/f"))
    assert facts == {"type": "file", "size": "3"}


def test_opts_utf8_and_unknown_option(ctl):
    assert ctl.cmd("OPTS UTF8 ON").code == 200
    assert 500 <= ctl.cmd("OPTS NO-SUCH-OPTION").code <= 504


def test_utf8_names(ctl, area):
    vpath, disk = area
    assert ctl.cmd("OPTS UTF8 ON").code == 200
    assert ctl.cmd(f"MKD {vpath}/Grüße-日本").code == 257
    assert (disk / "Grüße-日本").is_dir()
    data, _, final = transfer(ctl, f"NLST {vpath}")
    assert final.code == 226
    assert "Grüße-日本" in data.decode("utf-8")


# ---------------------------------------------------------------------------- parameters

@pytest.mark.parametrize("command", ["TYPE A", "TYPE I", "TYPE L 8", "TYPE A N", "MODE S",
                                     "STRU F"])
def test_supported_parameters_are_200(ctl, command):
    assert ctl.cmd(command).code == 200


@pytest.mark.parametrize("command", ["TYPE E", "MODE B", "STRU R"])
def test_unimplemented_parameters_are_504(ctl, command):
    assert ctl.cmd(command).code == 504


@pytest.mark.parametrize("command", [
    "TYPE", "PORT 1,2,3", "PORT 127,0,0,1,300,1", "PORT a,b,c,d,e,f", "EPRT garbage",
    "EPRT |1|127.0.0.1|notaport|", "REST abc", "REST -5", "MDTM", "SITE CHMOD",
    "MFMT 20200101000000", "RNFR", "DELE", "MKD",
])
def test_bad_arguments_are_501(ctl, command):
    assert ctl.cmd(command).code == 501
    assert ctl.cmd("NOOP").code == 200


def test_allo(ctl):
    assert ctl.cmd("ALLO 1000").code in (200, 202)


def test_rest(ctl):
    assert ctl.cmd("TYPE I").code == 200
    assert ctl.cmd("REST 100").code == 350
    assert ctl.cmd("REST 0").code == 350


def test_abor_without_transfer(ctl):
    assert ctl.cmd("ABOR").code in (225, 226)
    assert ctl.cmd("NOOP").code == 200


# ---------------------------------------------------------------------------- data channel setup

def test_pasv_announces_the_loopback_address(ctl):
    host, port = parse_pasv(ctl.cmd("PASV"))
    assert host == "127.0.0.1"
    assert port > 0
    socket.create_connection((host, port), timeout=10).close()


def test_epsv(ctl):
    port = parse_epsv(ctl.cmd("EPSV"))
    socket.create_connection(("127.0.0.1", port), timeout=10).close()
    parse_epsv(ctl.cmd("EPSV 1"))


def test_epsv_for_the_wrong_family_is_refused(ctl):
    assert ctl.cmd("EPSV 2").code in (501, 522)


def test_epsv_all_locks_out_other_modes(ctl):
    assert ctl.cmd("EPSV ALL").code == 200
    assert 500 <= ctl.cmd("PASV").code < 600
    assert 500 <= ctl.cmd("PORT 127,0,0,1,200,10").code < 600
    assert 500 <= ctl.cmd("EPRT |1|127.0.0.1|51210|").code < 600
    parse_epsv(ctl.cmd("EPSV"))


def test_port_and_eprt_to_own_address(ctl):
    with socket.socket() as listener:  # some servers connect at once: give them a peer
        listener.bind(("127.0.0.1", 0))
        listener.listen(2)
        port = listener.getsockname()[1]
        assert ctl.cmd(f"PORT 127,0,0,1,{port >> 8},{port & 255}").code == 200
        assert ctl.cmd(f"EPRT |1|127.0.0.1|{port}|").code == 200


def test_port_to_another_address_is_refused(ctl):
    assert 500 <= ctl.cmd("PORT 127,0,0,2,200,10").code < 600
    assert 500 <= ctl.cmd("EPRT |1|127.0.0.2|51210|").code < 600


def test_port_to_a_privileged_port_is_refused(ctl):
    assert 500 <= ctl.cmd("PORT 127,0,0,1,0,21").code < 600
    assert 500 <= ctl.cmd("EPRT |1|127.0.0.1|1023|").code < 600


# ---------------------------------------------------------------------------- errors, permissions

def test_retr_missing_is_550(ctl, area):
    vpath, _ = area
    _, first, _ = transfer(ctl, f"RETR {vpath}/missing")
    assert first.code == 550
    assert ctl.cmd("NOOP").code == 200


def test_retr_of_a_directory_is_550(ctl, area):
    vpath, _ = area
    _, first, _ = transfer(ctl, f"RETR {vpath}")
    assert first.code == 550


def test_stor_name_too_long_is_553(ctl, area):
    vpath, disk = area
    _, first, _ = transfer(ctl, f"STOR {vpath}/{'s' * 256}", upload=b"x")
    assert first.code == 553
    assert list(disk.iterdir()) == []


def test_stor_into_missing_directory_is_550(ctl, area):
    vpath, _ = area
    _, first, _ = transfer(ctl, f"STOR {vpath}/nodir/f", upload=b"x")
    assert first.code in (550, 553)


def test_read_only_user_is_denied_writes(server):
    home = server.home("bob")
    (home / "keep.txt").write_bytes(b"bob's file")
    with Control.to(server) as c:
        c.login("bob")
        _, first, _ = transfer(c, "STOR new.txt", upload=b"x")
        assert first.code == 550
        _, first, _ = transfer(c, "APPE keep.txt", upload=b"x")
        assert first.code == 550
        assert c.cmd("MKD newdir").code == 550
        assert c.cmd("DELE keep.txt").code == 550
        assert c.cmd("RNFR keep.txt").code == 550
        assert c.cmd("SITE CHMOD 600 keep.txt").code == 550
        assert c.cmd("MFMT 20200102030405 keep.txt").code == 550
        data, first, final = transfer(c, "RETR keep.txt")
        assert first.code in (125, 150) and (final.code, data) == (226, b"bob's file")
    assert not (home / "new.txt").exists() and not (home / "newdir").exists()
    assert (home / "keep.txt").read_bytes() == b"bob's file"


# ---------------------------------------------------------------------------- SITE

def test_site_help(ctl):
    r = ctl.cmd("SITE HELP")
    assert r.code == 214
    assert "CHMOD" in r.text.upper()


def test_site_chmod(ctl, area):
    vpath, disk = area
    f = disk / "f"
    f.write_bytes(b"x")
    os.chmod(f, 0o600)
    assert ctl.cmd(f"SITE CHMOD 640 {vpath}/f").code == 200
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert ctl.cmd(f"SITE CHMOD 640 {vpath}/missing").code == 550
    assert ctl.cmd(f"SITE CHMOD 9z9 {vpath}/f").code == 501
    assert stat.S_IMODE(f.stat().st_mode) == 0o640


def test_site_unknown_subcommand(ctl):
    assert 500 <= ctl.cmd("SITE NO-SUCH-THING").code <= 504
    assert ctl.cmd("NOOP").code == 200
