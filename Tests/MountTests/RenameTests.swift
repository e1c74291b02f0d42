import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// rename(2) and renameat2(2), side by side.
final class RenameTests: ConformanceTestCase {
  func testRenameFiles() {
    sideBySide { t in
      t.put("a", "A")
      t.put("b", "B")
      _ = t.mkdir("d")
      let ino = t.lstat("a")?.st_ino
      t.check("rename to a new name", t.rename("a", "c"), "OK")
      t.check("old name gone", t.statResult("a"), "ENOENT")
      t.check("content moved", t.get("c"), "A")
      t.check("inode kept", t.lstat("c")?.st_ino == ino, true)
      t.check("rename over a file", t.rename("c", "b"), "OK")
      t.check("replaced content", t.get("b"), "A")
      t.check("listing", t.ls(), "b,d")
      t.check("rename into a dir", t.rename("b", "d/b"), "OK")
      t.check("listing of d", t.ls("d"), "b")
      t.check("rename to itself", t.rename("d/b", "d/b"), "OK")
      t.check("still there", t.get("d/b"), "A")
      t.check("rename missing", t.rename("none", "x"), "ENOENT")
      t.check("rename into a missing dir", t.rename("d/b", "none/b"), "ENOENT")
      t.check("rename a file over its own parent", t.rename("d/b", "d"), "ENOTEMPTY")
      _ = t.mkdir("nd")
      t.put("nd/z", "z")
      t.check("rename a file over a non-empty dir", t.rename("d/b", "nd"), "EISDIR")
      _ = t.mkdir("e")
      t.check("rename a file over an empty dir", t.rename("d/b", "e"), "EISDIR")
      t.check(
        "rename with a 256-byte name", t.rename("d/b", String(repeating: "r", count: 256)),
        "ENAMETOOLONG")
      // Two hard links to one inode: rename is a no-op that succeeds.
      t.put("h1", "H")
      _ = t.link("h1", "h2")
      t.check("rename between links of one inode", t.rename("h1", "h2"), "OK")
      t.check("both names remain", t.ls().contains("h1") && t.ls().contains("h2"), true)
      t.check("nlink unchanged", t.nlink("h1"), 2)
      // Overwriting a file drops its link count.
      t.put("v", "victim")
      let fd = Glibc.open(t.p("v"), O_RDONLY)
      t.put("w", "winner")
      t.check("rename over an open file", t.rename("w", "v"), "OK")
      t.check("the replaced file is unlinked", t.fstat(fd).map { Int($0.st_nlink) } ?? -1, 0)
      t.check(
        "the replaced file is still readable",
        pread(fd, count: 6, at: 0).map { String(decoding: $0, as: UTF8.self) } ?? "", "victim")
      close(fd)
      t.check("new content", t.get("v"), "winner")
      // Symlinks are renamed, not followed.
      _ = t.symlink("v", "sl")
      t.check("rename a symlink", t.rename("sl", "sl2"), "OK")
      t.check("renamed symlink", t.readlink("sl2"), "v")
    }
  }

  func testRenameDirectories() {
    sideBySide { t in
      _ = t.mkdir("a")
      _ = t.mkdir("a/sub")
      t.put("a/f", "1")
      _ = t.mkdir("empty")
      _ = t.mkdir("full")
      t.put("full/x", "2")
      t.put("file", "3")
      t.check("rename dir over an empty dir", t.rename("a", "empty"), "OK")
      t.check("moved content", t.ls("empty"), "f,sub")
      t.check("old gone", t.statResult("a"), "ENOENT")
      t.check("root nlink", t.nlink(""), 4)
      t.check("rename dir over a non-empty dir", t.rename("empty", "full"), "ENOTEMPTY")
      t.check("rename dir over a file", t.rename("empty", "file"), "ENOTDIR")
      t.check("rename into its own subtree", t.rename("empty", "empty/sub/x"), "EINVAL")
      t.check("rename into itself", t.rename("empty", "empty/x"), "EINVAL")
      t.check("rename onto its own child", t.rename("empty", "empty/sub"), "EINVAL")
      t.check(
        "rename a parent over its child (ENOTEMPTY or EINVAL)", t.rename("empty/sub", "empty"),
        "ENOTEMPTY")
      t.check("rename of .", t.rename("empty/.", "x"), "EBUSY")
      t.check("rename of ..", t.rename("empty/sub/..", "x"), "EBUSY")
      t.check("rename to .", t.rename("file", "empty/."), "EBUSY")
      // Moving a dir between parents moves a link count (its ..).
      t.check("nlink of empty before", t.nlink("empty"), 3)
      t.check("nlink of full before", t.nlink("full"), 2)
      t.check("move subdir", t.rename("empty/sub", "full/sub"), "OK")
      t.check("nlink of old parent", t.nlink("empty"), 2)
      t.check("nlink of new parent", t.nlink("full"), 3)
      t.check(
        "moved dir's .. is the new parent",
        t.lstat("full/sub/..")?.st_ino == t.lstat("full")?.st_ino, true)
      t.check("trailing slash on a dir rename", t.rename("full/sub/", "sub2/"), "OK")
      t.check("trailing slash on a file rename", t.rename("file/", "file2"), "ENOTDIR")
      t.check("listing", t.ls(), "empty,file,full,sub2")
    }
  }

  func testRenameat2Flags() {
    sideBySide { t in
      t.put("a", "A")
      t.put("b", "B")
      _ = t.mkdir("d")
      t.put("d/x", "X")
      t.check(
        "RENAME_NOREPLACE onto existing", t.renameat2("a", "b", Libc.RENAME_NOREPLACE), "EEXIST")
      t.check("nothing moved", t.get("a") + t.get("b"), "AB")
      t.check("RENAME_NOREPLACE to a new name", t.renameat2("a", "c", Libc.RENAME_NOREPLACE), "OK")
      t.check("moved", t.ls(), "b,c,d")
      t.check("RENAME_EXCHANGE two files", t.renameat2("b", "c", Libc.RENAME_EXCHANGE), "OK")
      t.check("swapped", t.get("b") + t.get("c"), "AB")
      t.check(
        "RENAME_EXCHANGE with a missing target", t.renameat2("b", "none", Libc.RENAME_EXCHANGE),
        "ENOENT")
      t.check("RENAME_EXCHANGE a file and a dir", t.renameat2("b", "d", Libc.RENAME_EXCHANGE), "OK")
      t.check("b is now the dir", t.ls("b"), "x")
      t.check("d is now the file", t.get("d"), "A")
      t.check("root nlink unchanged", t.nlink(""), 3)
      t.check(
        "both flags", t.renameat2("b", "d", Libc.RENAME_EXCHANGE | Libc.RENAME_NOREPLACE), "EINVAL")
      t.check("unknown flag", t.renameat2("b", "d", 0x100), "EINVAL")
      // Exchange across directories updates both parents' link counts.
      _ = t.mkdir("p")
      _ = t.mkdir("p/q")
      t.put("f", "F")
      t.check(
        "exchange a subdir with a file in another dir",
        t.renameat2("p/q", "f", Libc.RENAME_EXCHANGE), "OK")
      t.check("p nlink", t.nlink("p"), 2)
      t.check("root nlink", t.nlink(""), 5)
      t.check("p/q is the file", t.get("p/q"), "F")
      t.check("f is the dir", t.mode("f"), "dir 755")
    }
  }

  func testRenameTimestamps() {
    sideBySide { t in
      _ = t.mkdir("src")
      _ = t.mkdir("dst")
      t.put("src/f", "x")
      let f0 = t.lstat("src/f")!
      let s0 = t.lstat("src")!
      let d0 = t.lstat("dst")!
      usleep(30_000)
      t.check("rename across dirs", t.rename("src/f", "dst/f"), "OK")
      let f1 = t.lstat("dst/f")!
      let s1 = t.lstat("src")!
      let d1 = t.lstat("dst")!
      t.check("source dir mtime moves", s1.mtime > s0.mtime, true)
      t.check("source dir ctime moves", s1.ctime > s0.ctime, true)
      t.check("target dir mtime moves", d1.mtime > d0.mtime, true)
      t.check("target dir ctime moves", d1.ctime > d0.ctime, true)
      t.check("renamed file ctime moves (Linux)", f1.ctime > f0.ctime, true)
      t.check("renamed file mtime stays", f1.mtime == f0.mtime, true)
    }
  }
}
