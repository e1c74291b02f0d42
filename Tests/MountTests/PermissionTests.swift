import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Permission checks as uid 1000 (through vfsprobe), side by side. The vfsmount
/// mount uses default_permissions, so the kernel checks modes as it does on tmpfs.
final class PermissionTests: ConformanceTestCase {
  func testModesRefuseOthers() {
    sideBySide { t in
      t.put("secret", "s")
      _ = t.chmod("secret", 0o600)
      t.put("public", "p")
      _ = t.chmod("public", 0o644)
      t.put("writable", "w")
      _ = t.chmod("writable", 0o666)
      _ = t.mkdir("closed", 0o700)
      t.put("closed/inner", "i")
      _ = t.mkdir("listonly", 0o744)
      t.put("listonly/f", "f")
      _ = t.mkdir("searchonly", 0o711)
      t.put("searchonly/f", "found")
      _ = t.mkdir("ro", 0o755)
      t.probeChecks(
        "as uid 1000",
        [
          (["read", "@secret"], "EACCES"),
          (["write", "@secret", "x"], "EACCES"),
          (["read", "@public"], "OK p"),
          (["write", "@public", "x"], "EACCES"),
          (["append", "@writable", "+"], "OK"),
          (["read", "@writable"], "OK w+"),
          (["list", "@closed"], "EACCES"),
          (["read", "@closed/inner"], "EACCES"),
          (["stat", "@closed/inner"], "EACCES"),
          (["list", "@listonly"], "OK f"),
          (["stat", "@listonly/f"], "EACCES"),
          (["list", "@searchonly"], "EACCES"),
          (["read", "@searchonly/f"], "OK found"),
          (["create", "@ro/new"], "EACCES"),
          (["mkdir", "@ro/d", "755"], "EACCES"),
          (["unlink", "@public"], "EACCES"),
          (["rename", "@public", "@ro/x"], "EACCES"),
          (["open", "@secret", "rdonly"], "EACCES"),
          (["open", "@public", "rdwr"], "EACCES"),
          (["open", "@public", "rdonly"], "OK"),
          (["truncate", "@public", "0"], "EACCES"),
          (["truncate", "@writable", "1"], "OK"),
          (["access", "@public", "r"], "OK"),
          (["access", "@public", "w"], "EACCES"),
          (["access", "@secret", "f"], "OK"),
          (["symlink", "x", "@ro/l"], "EACCES"),
          (["link", "@public", "@ro/h"], "EPERM"),  // fs.protected_hardlinks: not the owner
          (["mknod", "@ro/p", "fifo", "644"], "EACCES"),
          (["rmdir", "@ro"], "EACCES"),
          (["open", "@ro", "rdonly,directory"], "OK"),
          (["open", "@closed", "rdonly,directory"], "EACCES"),
        ])
      t.check("nothing was changed", t.get("public") + t.get("secret"), "ps")
      t.check("nothing was created", t.ls("ro"), "")
      // Group permissions.
      t.put("grp", "g")
      _ = t.chown("grp", 0, 1000)
      _ = t.chmod("grp", 0o640)
      t.check("group member reads", t.probe(["read", "@grp"]), ["OK g"])
      t.check("non-member", t.probe(uid: 2000, gid: 2000, ["read", "@grp"]), ["EACCES"])
      t.check(
        "supplementary group", t.probe(uid: 2000, gid: 2000, groups: [1000], ["read", "@grp"]),
        ["OK g"])
      // Owner bits win over group and other bits.
      t.put("own", "o")
      _ = t.chown("own", 1000, 1000)
      _ = t.chmod("own", 0o077)
      t.check("owner without owner bits", t.probe(["read", "@own"]), ["EACCES"])
      t.check("others with other bits", t.probe(uid: 2000, gid: 2000, ["read", "@own"]), ["OK o"])
    }
  }

  func testOwnershipOperations() {
    sideBySide { t in
      t.put("rootfile", "r")
      _ = t.chmod("rootfile", 0o666)
      t.put("mine", "m")
      _ = t.chown("mine", 1000, 1000)
      t.probeChecks(
        "as uid 1000",
        [
          (["chmod", "@rootfile", "777"], "EPERM"),
          (["chown", "@rootfile", "1000", "1000"], "EPERM"),
          (["chmod", "@mine", "600"], "OK"),
          (["stat", "@mine"], "OK mode=100600 uid=1000 gid=1000 size=1 nlink=1"),
          (["chown", "@mine", "2000", "-1"], "EPERM"),
          (["chown", "@mine", "-1", "2000"], "EPERM"),
          (["chown", "@mine", "-1", "1000"], "OK"),
          (["chown", "@mine", "1000", "-1"], "OK"),
          (["utimens", "@rootfile", "now"], "OK"),
          (["utimens", "@rootfile", "5"], "EPERM"),
          (["utimens", "@mine", "5"], "OK"),
          (["setxattr", "@rootfile", "trusted.t", "v"], "EPERM"),
          (["getxattr", "@rootfile", "trusted.t"], "ENODATA"),
          (["setxattr", "@mine", "trusted.t", "v"], "EPERM"),
          (["setxattr", "@rootfile", "user.u", "v"], "OK"),
          (["getxattr", "@rootfile", "user.u"], "OK v"),
          (["listxattr", "@rootfile"], "OK user.u"),
          (["removexattr", "@rootfile", "user.u"], "OK"),
          (["setxattr", "@mine", "security.s", "v"], "EPERM"),
        ])
      t.check(
        "root's trusted xattr invisible to others", t.setxattr("rootfile", "trusted.hidden", "h"),
        "OK")
      t.check("list as uid 1000 hides trusted.*", t.probe(["listxattr", "@rootfile"]), ["OK"])
      t.check("get as uid 1000", t.probe(["getxattr", "@rootfile", "trusted.hidden"]), ["ENODATA"])
      t.check("mtime set by the owner", t.lstat("mine").map { $0.st_mtim.tv_sec }, 5)
      _ = t.chmod("rootfile", 0o644)
      t.check(
        "user xattr without write permission", t.probe(["setxattr", "@rootfile", "user.w", "v"]),
        ["EACCES"])
      t.check(
        "utimens now without write permission", t.probe(["utimens", "@rootfile", "now"]), ["EACCES"]
      )
      // chmod g+s by an owner outside the group drops setgid.
      t.check(
        "chmod 2755 by an owner outside the group",
        t.probe(uid: 1000, gid: 1000, ["chmod", "@mine", "2755"]), ["OK"])
      _ = t.chown("mine", 1000, 3000)
      t.check(
        "as an owner outside group 3000",
        t.probe(uid: 1000, gid: 1000, ["chmod", "@mine", "2755"]), ["OK"])
      t.check("setgid silently dropped", t.mode("mine"), "reg 755")
    }
  }

  func testStickyDirectory() {
    sideBySide { t in
      _ = t.mkdir("tmp")
      _ = t.chmod("tmp", 0o1777)
      t.check(
        "user 1000 creates",
        t.probe(["create", "@tmp/a"], ["create", "@tmp/b"], ["mkdir", "@tmp/d", "777"]),
        ["OK", "OK", "OK"])
      t.check(
        "user 2000 cannot remove or rename others' entries",
        t.probe(
          uid: 2000, gid: 2000, ["unlink", "@tmp/a"], ["rename", "@tmp/b", "@tmp/c"],
          ["rmdir", "@tmp/d"],
          ["create", "@tmp/mine"], ["rename", "@tmp/mine", "@tmp/a"], ["write", "@tmp/a", "x"]),
        ["EPERM", "EPERM", "EPERM", "OK", "EPERM", "EACCES"])
      t.check(
        "user 2000 removes its own", t.probe(uid: 2000, gid: 2000, ["unlink", "@tmp/mine"]), ["OK"])
      t.check(
        "the owner removes", t.probe(["unlink", "@tmp/a"], ["rename", "@tmp/b", "@tmp/c"]),
        ["OK", "OK"])
      t.check("root removes anything", t.rmdir("tmp/d"), "OK")
      t.check("listing", t.ls("tmp"), "c")
      // The directory's owner may remove entries too.
      _ = t.mkdir("owned")
      _ = t.chown("owned", 2000, 2000)
      _ = t.chmod("owned", 0o1777)
      t.check("user 1000 creates in 2000's sticky dir", t.probe(["create", "@owned/x"]), ["OK"])
      t.check(
        "the dir owner unlinks it", t.probe(uid: 2000, gid: 2000, ["unlink", "@owned/x"]), ["OK"])
      // Without the sticky bit anyone with write permission may remove.
      _ = t.mkdir("open")
      _ = t.chmod("open", 0o777)
      t.check("create", t.probe(["create", "@open/y"]), ["OK"])
      t.check("another user unlinks", t.probe(uid: 2000, gid: 2000, ["unlink", "@open/y"]), ["OK"])
    }
  }
}
