import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `-o ro`: every change is EROFS, reads work, statfs says read-only.
final class ReadOnlyMountTests: ConformanceTestCase {
  override class var mountOptions: [String] { super.mountOptions + ["ro"] }
  override class var tmpfsOptions: [String] { ["ro"] }
  override class var preparesMount: Bool { false }

  func testEROFS() {
    sideBySide { t in
      t.check("statfs ST_RDONLY", t.statfs().map { $0.f_flag & UInt(ST_RDONLY) != 0 }, true)
      t.check(
        "mountinfo says ro", MountInfo.at(t.mount).map { $0.superOptions.hasPrefix("ro") }, true)
      t.check("create", t.open("f", O_WRONLY | O_CREAT), "EROFS")
      t.check("mkdir", t.mkdir("d"), "EROFS")
      t.check("mknod", t.mknod("p", S_IFIFO | 0o644), "EROFS")
      t.check("symlink", t.symlink("x", "l"), "EROFS")
      t.check("chmod the root", t.chmod("", 0o700), "EROFS")
      t.check("chown the root", t.chown("", 1, 1), "EROFS")
      t.check(
        "utimensat the root",
        t.utimens(
          "", timespec(tv_sec: 0, tv_nsec: Libc.UTIME_NOW),
          timespec(tv_sec: 0, tv_nsec: Libc.UTIME_NOW)), "EROFS")
      t.check("setxattr on the root", t.setxattr("", "user.x", "v"), "EROFS")
      t.check("open the root for reading", t.open("", O_RDONLY | O_DIRECTORY), "OK")
      t.check("access W_OK", t.access("", W_OK), "EROFS")
      t.check("access R_OK", t.access("", R_OK), "OK")
      t.check("lookup of a missing name", t.statResult("none"), "ENOENT")
      t.check("getxattr", t.getxattr("", "user.none"), "ENODATA")
    }
  }
}

/// `-o mode=,uid=,gid=`: the root directory's mode and owner, as tmpfs takes them.
final class RootOptionTests: ConformanceTestCase {
  override class var mountOptions: [String] {
    super.mountOptions + ["mode=0750", "uid=1000", "gid=2000"]
  }
  override class var tmpfsOptions: [String] { ["mode=0750", "uid=1000", "gid=2000"] }
  override class var preparesMount: Bool { false }

  func testRootModeAndOwner() {
    sideBySide { t in
      t.check("root mode", t.mode(""), "dir 750")
      t.check("root owner", t.owner(""), "1000:2000")
      t.check("the owner creates", t.probe(["create", "@owned"]), ["OK"])
      t.check(
        "a group member lists",
        t.probe(uid: 3000, gid: 2000, ["list", "@"]).first?.hasPrefix("OK"), true)
      t.check(
        "a group member cannot create", t.probe(uid: 3000, gid: 2000, ["create", "@x"]), ["EACCES"])
      t.check("others cannot enter", t.probe(uid: 3000, gid: 3000, ["stat", "@owned"]), ["EACCES"])
      t.check("new file's owner", t.owner("owned"), "1000:1000")
    }
  }
}

/// `-o size=` in its other forms, as tmpfs parses them.
final class SizeOptionTests: ConformanceTestCase {
  override class var mountOptions: [String] { super.mountOptions + ["size=256k", "nr_inodes=1k"] }
  override class var tmpfsOptions: [String] { ["size=256k", "nr_inodes=1k"] }

  func testSizesParse() {
    sideBySide { t in
      let s = t.statfs()
      t.check("256k is 64 blocks", s.map { Int($0.f_blocks) }, 64)
      t.check("1k inodes is 1024", s.map { Int($0.f_files) }, 1024)
      t.check("df -h", t.sh("df -h --output=size \"$M\" | tail -1 | tr -d ' '").out, "256K")
    }
  }
}
