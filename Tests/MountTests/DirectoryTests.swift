import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// mkdir(2), rmdir(2), unlink(2), link(2), symlink(2), readlink(2), side by side.
final class DirectoryTests: ConformanceTestCase {
  func testMkdir() {
    sideBySide { t in
      t.check("mkdir", t.mkdir("d", 0o750), "OK")
      t.check("mode", t.mode("d"), "dir 750")
      t.check("new dir nlink", t.nlink("d"), 2)
      t.check("parent nlink grows", t.nlink(""), 3)
      t.check("mkdir existing", t.mkdir("d"), "EEXIST")
      t.put("f", "x")
      t.check("mkdir over a file", t.mkdir("f"), "EEXIST")
      t.check("mkdir in a missing dir", t.mkdir("none/d"), "ENOENT")
      t.check("mkdir under a file", t.mkdir("f/d"), "ENOTDIR")
      t.check("mkdir nested", t.mkdir("d/e"), "OK")
      t.check("nlink with a subdir", t.nlink("d"), 3)
      t.check("mkdir with a trailing slash", t.mkdir("g/"), "OK")
      t.check("mkdir keeps only permission and sticky bits", t.mkdir("s", 0o7777), "OK")
      t.check("mode of s (setuid/setgid dropped, umask 022 applies)", t.mode("s"), "dir 1755")
      t.check("mkdir over a dangling symlink", t.symlink("missing", "sl"), "OK")
      t.check("mkdir does not follow", t.mkdir("sl"), "EEXIST")
      t.check("listing", t.ls(), "d,f,g,s,sl")
      t.check("listing of d", t.ls("d"), "e")
      t.check("empty dir listing", t.ls("d/e"), "")
      t.check("mkdir of .", t.mkdir("."), "EEXIST")
      t.check("mkdir of ..", t.mkdir("d/.."), "EEXIST")
    }
  }

  func testRmdir() {
    sideBySide { t in
      _ = t.mkdir("d")
      _ = t.mkdir("d/e")
      t.put("f", "x")
      t.check("rmdir non-empty", t.rmdir("d"), "ENOTEMPTY")
      t.check("rmdir a file", t.rmdir("f"), "ENOTDIR")
      t.check("rmdir missing", t.rmdir("none"), "ENOENT")
      t.check("rmdir .", t.rmdir("d/."), "EINVAL")
      t.check("rmdir ..", t.rmdir("d/e/.."), "ENOTEMPTY")
      t.check("rmdir through a file", t.rmdir("f/x"), "ENOTDIR")
      t.check("rmdir a symlink to a dir", t.symlink("d", "sd"), "OK")
      t.check("rmdir does not follow", t.rmdir("sd"), "ENOTDIR")
      t.check("rmdir empty", t.rmdir("d/e"), "OK")
      t.check("nlink after rmdir", t.nlink("d"), 2)
      t.check("gone", t.statResult("d/e"), "ENOENT")
      t.check("rmdir now empty", t.rmdir("d"), "OK")
      t.check("parent nlink back", t.nlink(""), 2)
      t.check("listing", t.ls(), "f,sd")
      _ = t.mkdir("x")
      t.check("rmdir with a trailing slash", t.rmdir("x/"), "OK")
      _ = t.mkdir("y")
      _ = t.put("y/f", "1")
      t.check("rmdir dir with a file", t.rmdir("y"), "ENOTEMPTY")
      _ = t.unlink("y/f")
      t.check("rmdir after emptying", t.rmdir("y"), "OK")
      // rmdir of the cwd of an open dir fd: later creates fail with ENOENT.
      _ = t.mkdir("z")
      let fd = Glibc.open(t.p("z"), O_RDONLY | O_DIRECTORY)
      t.check("rmdir of an open dir", t.rmdir("z"), "OK")
      t.check(
        "create in a removed dir", result(openat(fd, "new", O_WRONLY | O_CREAT, 0o644)), "ENOENT")
      t.check("fstat of a removed dir: nlink", t.fstat(fd).map { Int($0.st_nlink) } ?? -1, 0)
      close(fd)
    }
  }

  func testUnlink() {
    sideBySide { t in
      t.put("f", "x")
      _ = t.mkdir("d")
      t.check("unlink a dir", t.unlink("d"), "EISDIR")
      t.check("unlink missing", t.unlink("none"), "ENOENT")
      t.check("unlink in a missing dir", t.unlink("none/f"), "ENOENT")
      t.check("unlink through a file", t.unlink("f/x"), "ENOTDIR")
      t.check("unlink a file", t.unlink("f"), "OK")
      t.check("gone", t.statResult("f"), "ENOENT")
      t.check("unlink twice", t.unlink("f"), "ENOENT")
      t.put("g", "y")
      _ = t.symlink("g", "l")
      t.check("unlink a symlink", t.unlink("l"), "OK")
      t.check("target stays", t.get("g"), "y")
      t.check("unlink with trailing slash on a file", t.unlink("g/"), "ENOTDIR")
      t.check(
        "unlinkat AT_REMOVEDIR on a dir", result(unlinkat(AT_FDCWD, t.p("d"), Libc.AT_REMOVEDIR)),
        "OK")
      t.check("listing", t.ls(), "g")
    }
  }

  func testLink() {
    sideBySide { t in
      t.put("f", "data")
      _ = t.mkdir("d")
      t.check("link", t.link("f", "g"), "OK")
      t.check("nlink of f", t.nlink("f"), 2)
      t.check("nlink of g", t.nlink("g"), 2)
      t.check("same inode", t.lstat("f")?.st_ino == t.lstat("g")?.st_ino, true)
      t.check("same content", t.get("g"), "data")
      t.check("link into a subdir", t.link("f", "d/h"), "OK")
      t.check("nlink 3", t.nlink("f"), 3)
      t.check("link over existing", t.link("f", "g"), "EEXIST")
      t.check("link to a dir", t.link("d", "d2"), "EPERM")
      t.check("link missing", t.link("none", "x"), "ENOENT")
      t.check("link into a missing dir", t.link("f", "none/x"), "ENOENT")
      t.check(
        "link with a 256-byte name", t.link("f", String(repeating: "a", count: 256)), "ENAMETOOLONG"
      )
      t.check("write through one name", t.put("g", "changed"), "OK")
      t.check("read through another", t.get("d/h"), "changed")
      t.check("unlink one name", t.unlink("f"), "OK")
      t.check("nlink after unlink", t.nlink("g"), 2)
      t.check("content survives", t.get("g"), "changed")
      t.check("unlink another", t.unlink("d/h"), "OK")
      t.check("nlink 1", t.nlink("g"), 1)
      // Directory link counts.
      _ = t.mkdir("p")
      t.check("empty dir nlink", t.nlink("p"), 2)
      _ = t.mkdir("p/a")
      _ = t.mkdir("p/b")
      t.put("p/file", "")
      t.check("dir nlink counts subdirs only", t.nlink("p"), 4)
      t.check("root nlink", t.nlink(""), 4)
      // A symlink is linked, not followed (link(2) on Linux does not dereference).
      _ = t.symlink("g", "sl")
      t.check("link a symlink", t.link("sl", "sl2"), "OK")
      t.check("the new name is a symlink", t.mode("sl2"), "lnk 777")
      t.check("symlink nlink", t.lstat("sl").map { Int($0.st_nlink) } ?? -1, 2)
    }
  }

  func testSymlink() {
    sideBySide { t in
      t.put("f", "target data")
      t.check("symlink", t.symlink("f", "l"), "OK")
      t.check("lstat type", t.mode("l"), "lnk 777")
      t.check("lstat size is the target length", t.size("l"), 1)
      t.check("readlink", t.readlink("l"), "f")
      t.check("read through", t.get("l"), "target data")
      t.check("stat follows", t.stat("l").map { typeName($0.st_mode) } ?? "", "reg")
      t.check("symlink exists", t.symlink("x", "l"), "EEXIST")
      t.check("readlink on a file", t.readlink("f"), "EINVAL")
      t.check("readlink missing", t.readlink("none"), "ENOENT")
      let long = String(repeating: "t/", count: 2000)
      t.check("long target (4000 bytes)", t.symlink(long, "long"), "OK")
      t.check("readlink long", t.readlink("long"), long)
      t.check("size of long", t.size("long"), 4000)
      t.check(
        "target of 4096 bytes", t.symlink(String(repeating: "x", count: 4096), "toolong"),
        "ENAMETOOLONG")
      t.check("absolute target", t.symlink("/etc/hostname", "abs"), "OK")
      t.check("readlink absolute", t.readlink("abs"), "/etc/hostname")
      t.check("dangling", t.symlink("missing", "dang"), "OK")
      t.check("open dangling", t.open("dang", O_RDONLY), "ENOENT")
      t.check("relative to its dir", t.mkdir("d"), "OK")
      t.check("symlink to ../f", t.symlink("../f", "d/up"), "OK")
      t.check("read d/up", t.get("d/up"), "target data")
      t.check("symlink to a dir", t.symlink("d", "ld"), "OK")
      t.check("list through", t.ls("ld"), "up")
      t.check("chain", t.symlink("l", "l2"), "OK")
      t.check("read chain", t.get("l2"), "target data")
      t.check("readlink reads one level", t.readlink("l2"), "l")
      t.check("lchown a symlink", t.lchown("l", 1000, 1000), "OK")
      t.check(
        "lchown changed the link", t.lstat("l").map { "\($0.st_uid):\($0.st_gid)" } ?? "",
        "1000:1000")
      t.check("target owner untouched", t.owner("f"), "0:0")
      var buf = [CChar](repeating: 0, count: 3)
      t.check("readlink truncates to the buffer", Glibc.readlink(t.p("long"), &buf, 3), 3)
      t.check("empty target", t.symlink("", "empty"), "ENOENT")
    }
  }
}
