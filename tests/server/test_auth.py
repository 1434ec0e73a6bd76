"""API keys and the bind rule (soe.server.auth, soe.server.main), without a server."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

from soe.server.auth import ApiKeys  # noqa: E402
from soe.server.main import check_bind  # noqa: E402


class TestApiKeys:
    """Keys from a file, kept as digests, matched only as a Bearer credential."""

    def test_success(self, tmp_path):
        path = tmp_path / "keys"
        path.write_text("# ops\nfirst-key-0123456789\n\n  second-key-0123456789  \n")
        keys = ApiKeys.from_file(path)
        assert keys.required
        assert keys.accepts("Bearer first-key-0123456789")
        assert keys.accepts("bearer second-key-0123456789")
        assert not keys.accepts("Basic first-key-0123456789")
        assert not keys.accepts("Bearer first-key-012345678")
        assert not keys.accepts(None)
        assert "first-key-0123456789" not in repr(vars(keys))  # only digests are kept

    def test_fail(self, tmp_path):
        empty = tmp_path / "empty"
        empty.write_text("# nothing\n\n")
        with pytest.raises(ValueError, match=f"^API key file '{empty}' holds no key \\(one key per line\\)$"):
            ApiKeys.from_file(empty)
        short = tmp_path / "short"
        short.write_text("long-enough-key-0123\nshort\n")
        with pytest.raises(ValueError, match=f"^API key file '{short}': key 2 is shorter than 16 characters$"):
            ApiKeys.from_file(short)

    def test_no_keys_means_open(self):
        assert not ApiKeys([]).required and not ApiKeys([]).accepts("Bearer anything-at-all-0000")


class TestCheckBind:
    """Without keys only loopback addresses may be served."""

    @pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
    def test_success(self, host):
        check_bind(host, keys_required=False)

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.org"])
    def test_fail(self, host):
        with pytest.raises(ValueError, match=f"^Refusing to serve on {host} without API keys"):
            check_bind(host, keys_required=False)
        check_bind(host, keys_required=True)
