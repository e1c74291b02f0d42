import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// chmod(2), chown(2), truncate(2), utimensat(2) and the timestamps every call moves.
final class AttributeTests: ConformanceTestCase {
  func testChmod() {
    sideBySide { t in
      t.put("f", "x")
      _ = t.mkdir("d")
      let c0 = t.lstat("f")!
      usleep(30_000)
      t.check("chmod", t.chmod("f", 0o600), "OK")
      let c1 = t.lstat("f")!
      t.check("mode", t.mode("f"), "reg 600")
      t.check("chmod moves ctime", c1.ctime > c0.ctime, true)
      t.check("chmod keeps mtime", c1.mtime == c0.mtime, true)
      t.check("chmod all bits", t.chmod("f", 0o7777), "OK")
      t.check("mode with setuid, setgid, sticky", t.mode("f"), "reg 7777")
      t.check("chmod ignores file type bits", t.chmod("f", S_IFDIR | 0o644), "OK")
      t.check("still a regular file", t.mode("f"), "reg 644")
      t.check("chmod a dir", t.chmod("d", 0o1777), "OK")
      t.check("dir mode", t.mode("d"), "dir 1777")
      t.check("chmod missing", t.chmod("none", 0o644), "ENOENT")
      _ = t.symlink("f", "l")
      t.check("chmod follows symlinks", t.chmod("l", 0o640), "OK")
      t.check("target changed", t.mode("f"), "reg 640")
      t.check("link unchanged", t.mode("l"), "lnk 777")
      t.check("fchmod", t.withFD("f", O_RDONLY) { result(fchmod($0, 0o604)) }, "OK")
      t.check("mode after fchmod", t.mode("f"), "reg 604")
      t.check(
        "fchmodat AT_SYMLINK_NOFOLLOW on a symlink",
        result(fchmodat(AT_FDCWD, t.p("l"), 0o600, Libc.AT_SYMLINK_NOFOLLOW)), "EOPNOTSUPP")
    }
  }

  func testChown() {
    sideBySide { t in
      t.put("f", "x")
      let c0 = t.lstat("f")!
      usleep(30_000)
      t.check("chown", t.chown("f", 1000, 2000), "OK")
      let c1 = t.lstat("f")!
      t.check("owner", t.owner("f"), "1000:2000")
      t.check("chown moves ctime", c1.ctime > c0.ctime, true)
      t.check("chown keeps mtime", c1.mtime == c0.mtime, true)
      t.check("chown -1 -1 changes nothing", t.chown("f", uid_t.max, gid_t.max), "OK")
      t.check("owner unchanged", t.owner("f"), "1000:2000")
      t.check("chown uid only", t.chown("f", 3000, gid_t.max), "OK")
      t.check("owner after uid only", t.owner("f"), "3000:2000")
      t.check("chown gid only", t.chown("f", uid_t.max, 4000), "OK")
      t.check("owner after gid only", t.owner("f"), "3000:4000")
      _ = t.symlink("f", "l")
      t.check("chown follows", t.chown("l", 5, 6), "OK")
      t.check("target owner", t.owner("f"), "5:6")
      t.check("link owner", t.owner("l"), "0:0")
      t.check("lchown", t.lchown("l", 7, 8), "OK")
      t.check("link owner after lchown", t.owner("l"), "7:8")
      t.check("target unchanged", t.owner("f"), "5:6")
      t.check("fchown", t.withFD("f", O_RDONLY) { result(fchown($0, 9, 10)) }, "OK")
      t.check("after fchown", t.owner("f"), "9:10")
      t.check("chown missing", t.chown("none", 1, 1), "ENOENT")
      // chown clears setuid, and setgid when group-exec is set, even for root.
      t.put("s", "x")
      _ = t.chmod("s", 0o6755)
      t.check("chown of a setuid/setgid file", t.chown("s", 1000, 1000), "OK")
      t.check("setuid and setgid cleared", t.mode("s"), "reg 755")
      _ = t.chmod("s", 0o6745)
      t.check("chown of setuid + setgid without group exec", t.chown("s", 1001, 1001), "OK")
      t.check("setgid without group exec is mandatory locking: kept", t.mode("s"), "reg 2745")
      _ = t.mkdir("d")
      _ = t.chmod("d", 0o3775)
      t.check("chown of a setgid dir", t.chown("d", 1000, 1000), "OK")
      t.check("dir keeps setgid and sticky", t.mode("d"), "dir 3775")
      _ = t.chmod("s", 0o6755)
      t.check("chown -1 -1 of a setuid file", t.chown("s", uid_t.max, gid_t.max), "OK")
      t.check("chown -1 -1 clears setuid too", t.mode("s"), "reg 755")
    }
  }

  func testTruncate() {
    sideBySide { t in
      t.put("f", "hello world")
      let c0 = t.lstat("f")!
      usleep(30_000)
      t.check("truncate shrink", t.truncate("f", 5), "OK")
      let c1 = t.lstat("f")!
      t.check("content after shrink", t.get("f"), "hello")
      t.check("truncate moves mtime", c1.mtime > c0.mtime, true)
      t.check("truncate moves ctime", c1.ctime > c0.ctime, true)
      t.check("truncate grow", t.truncate("f", 8), "OK")
      t.check("size after grow", t.size("f"), 8)
      t.check("grown part is zeros", t.bytes("f"), Array("hello\0\0\0".utf8))
      t.check("truncate to the same size", t.truncate("f", 8), "OK")
      t.check("truncate negative", t.truncate("f", -1), "EINVAL")
      _ = t.mkdir("d")
      t.check("truncate a dir", t.truncate("d", 0), "EISDIR")
      t.check("truncate missing", t.truncate("none", 0), "ENOENT")
      t.check("ftruncate shrink", t.withFD("f", O_RDWR) { result(ftruncate($0, 2)) }, "OK")
      t.check("content after ftruncate", t.get("f"), "he")
      t.check("ftruncate grow", t.withFD("f", O_WRONLY) { result(ftruncate($0, 4096 * 3)) }, "OK")
      t.check("size after ftruncate grow", t.size("f"), 12288)
      t.check(
        "ftruncate read-only fd", t.withFD("f", O_RDONLY) { result(ftruncate($0, 0)) }, "EINVAL")
      t.check("ftruncate negative", t.withFD("f", O_WRONLY) { result(ftruncate($0, -5)) }, "EINVAL")
      t.check(
        "ftruncate on a dir fd", t.withFD("d", O_RDONLY) { result(ftruncate($0, 0)) }, "EINVAL")
      // Shrinking then growing must not resurrect old data.
      t.put("g", String(repeating: "z", count: 10000))
      _ = t.truncate("g", 100)
      _ = t.truncate("g", 10000)
      let b = t.bytes("g")
      t.check("old data past a shrink reads as zeros", b[100...].allSatisfy { $0 == 0 }, true)
      t.check(
        "data before the shrink point kept", b[..<100].allSatisfy { $0 == UInt8(ascii: "z") }, true)
      _ = t.symlink("g", "l")
      t.check("truncate follows symlinks", t.truncate("l", 3), "OK")
      t.check("target truncated", t.get("g"), "zzz")
    }
  }

  func testUtimensat() {
    sideBySide { t in
      t.put("f", "x")
      let explicitA = timespec(tv_sec: 1_000_000_000, tv_nsec: 123_456_789)
      let explicitM = timespec(tv_sec: 1_234_567_890, tv_nsec: 987_654_321)
      t.check("utimensat explicit", t.utimens("f", explicitA, explicitM), "OK")
      let s1 = t.lstat("f")!
      t.check("atime with nanoseconds", s1.atime.description, "1000000000.123456789")
      t.check("mtime with nanoseconds", s1.mtime.description, "1234567890.987654321")
      let omit = timespec(tv_sec: 0, tv_nsec: Libc.UTIME_OMIT)
      let now = timespec(tv_sec: 0, tv_nsec: Libc.UTIME_NOW)
      let before = Time.now
      usleep(10_000)
      t.check("UTIME_OMIT atime, UTIME_NOW mtime", t.utimens("f", omit, now), "OK")
      let s2 = t.lstat("f")!
      t.check("atime omitted", s2.atime.description, "1000000000.123456789")
      t.check("mtime now", s2.mtime >= before && s2.mtime <= Time.now, true)
      t.check("UTIME_NOW atime, UTIME_OMIT mtime", t.utimens("f", now, omit), "OK")
      let s3 = t.lstat("f")!
      t.check("atime now", s3.atime >= before, true)
      t.check("mtime kept", s3.mtime == s2.mtime, true)
      usleep(30_000)
      t.check("both omitted", t.utimens("f", omit, omit), "OK")
      let s4 = t.lstat("f")!
      t.check("both omitted changes no time", s4.atime == s3.atime && s4.mtime == s3.mtime, true)
      t.check("both omitted keeps ctime", s4.ctime == s3.ctime, true)
      t.check("ctime moves on utimensat", s3.ctime > s1.ctime, true)
      t.check("NULL times", result(utimensat(AT_FDCWD, t.p("f"), nil, 0)), "OK")
      t.check("NULL sets mtime to now", t.lstat("f")!.mtime > s3.mtime, true)
      t.check(
        "bad nanoseconds", t.utimens("f", timespec(tv_sec: 0, tv_nsec: 1_000_000_000), omit),
        "EINVAL")
      t.check(
        "negative seconds (before 1970)", t.utimens("f", timespec(tv_sec: -100, tv_nsec: 5), omit),
        "OK")
      t.check("atime before 1970", t.lstat("f")!.atime.description, "-100.000000005")
      t.check("utimensat missing", t.utimens("none", now, now), "ENOENT")
      _ = t.symlink("f", "l")
      t.check(
        "AT_SYMLINK_NOFOLLOW on a symlink",
        t.utimens("l", explicitA, explicitA, flags: Libc.AT_SYMLINK_NOFOLLOW),
        "OK")
      t.check("symlink mtime set", t.lstat("l")!.mtime.description, "1000000000.123456789")
      t.check(
        "target mtime not set", t.lstat("f")!.mtime.description != "1000000000.123456789", true)
      t.check(
        "futimens",
        t.withFD("f", O_RDONLY) { fd -> String in
          var ts = [explicitM, explicitM]
          return result(futimens(fd, &ts))
        }, "OK")
      t.check("after futimens", t.lstat("f")!.atime.description, "1234567890.987654321")
      // Large and odd values round-trip.
      t.check(
        "year 2100",
        t.utimens(
          "f", timespec(tv_sec: 4_102_444_800, tv_nsec: 1),
          timespec(tv_sec: 4_102_444_800, tv_nsec: 999_999_999)), "OK")
      t.check("mtime in 2100", t.lstat("f")!.mtime.description, "4102444800.999999999")
    }
  }

  func testTimestampsOnEntryChanges() {
    sideBySide { t in
      _ = t.mkdir("d")
      var d0 = t.lstat("d")!
      func moved(_ label: String, _ op: () -> String) {
        usleep(25_000)
        t.check(label, op(), "OK")
        let d1 = t.lstat("d")!
        t.check("\(label): dir mtime moves", d1.mtime > d0.mtime, true)
        t.check("\(label): dir ctime moves", d1.ctime > d0.ctime, true)
        t.check("\(label): dir mtime == ctime", d1.mtime == d1.ctime, true)
        d0 = d1
      }
      moved("create") { t.open("d/f", O_WRONLY | O_CREAT) }
      moved("mkdir") { t.mkdir("d/sub") }
      moved("symlink") { t.symlink("f", "d/l") }
      moved("link") { t.link("d/f", "d/g") }
      moved("mknod fifo") { t.mknod("d/p", S_IFIFO | 0o644) }
      moved("rename within") { t.rename("d/g", "d/h") }
      moved("unlink") { t.unlink("d/h") }
      moved("rmdir") { t.rmdir("d/sub") }
      usleep(25_000)
      t.check("lookup of a missing name", t.statResult("d/none"), "ENOENT")
      t.check("failed create leaves mtime", t.open("d/f", O_WRONLY | O_CREAT | O_EXCL), "EEXIST")
      t.check("failed ops do not move mtime", t.lstat("d")!.mtime == d0.mtime, true)
      t.put("d/f", "data")
      t.check("writing a child does not move the dir mtime", t.lstat("d")!.mtime == d0.mtime, true)
    }
  }

  func testTimestampsOnFileChanges() {
    sideBySide { t in
      t.put("f", "x")
      var s0 = t.lstat("f")!
      func ctimeMoves(_ label: String, mtimeToo: Bool, _ op: () -> String) {
        usleep(25_000)
        t.check(label, op(), "OK")
        let s1 = t.lstat("f")!
        t.check("\(label): ctime moves", s1.ctime > s0.ctime, true)
        t.check("\(label): mtime \(mtimeToo ? "moves" : "stays")", s1.mtime > s0.mtime, mtimeToo)
        s0 = s1
      }
      ctimeMoves("write", mtimeToo: true) { t.put("f", "more", flags: O_WRONLY | O_APPEND) }
      ctimeMoves("chmod", mtimeToo: false) { t.chmod("f", 0o600) }
      ctimeMoves("chown", mtimeToo: false) { t.chown("f", 1, 1) }
      ctimeMoves("link", mtimeToo: false) { t.link("f", "g") }
      ctimeMoves("unlink of the other name", mtimeToo: false) { t.unlink("g") }
      ctimeMoves("rename", mtimeToo: false) {
        t.rename("f", "f2") == "OK" ? t.rename("f2", "f") : "rename failed"
      }
      ctimeMoves("setxattr", mtimeToo: false) { t.setxattr("f", "user.k", "v") }
      ctimeMoves("removexattr", mtimeToo: false) { t.removexattr("f", "user.k") }
      ctimeMoves("truncate", mtimeToo: true) { t.truncate("f", 1) }
      ctimeMoves("O_TRUNC open", mtimeToo: true) { t.open("f", O_WRONLY | O_TRUNC) }
      usleep(25_000)
      t.check("read", t.get("f"), "")
      t.check("reading keeps ctime", t.lstat("f")!.ctime == s0.ctime, true)
      t.check("reading keeps mtime", t.lstat("f")!.mtime == s0.mtime, true)
      t.check("chmod to the same mode", t.chmod("f", 0o600), "OK")
      t.check("a no-op chmod still moves ctime", t.lstat("f")!.ctime > s0.ctime, true)
    }
  }

  func testSetgidDirectoryInheritance() {
    sideBySide { t in
      _ = t.mkdir("g")
      t.check("chown dir to group 1234", t.chown("g", 0, 1234), "OK")
      t.check("chmod g+s", t.chmod("g", 0o2775), "OK")
      t.check("create in a setgid dir", t.put("g/f", "x"), "OK")
      t.check("file inherits the group", t.owner("g/f"), "0:1234")
      t.check("file does not get setgid", t.mode("g/f"), "reg 644")
      t.check("mkdir in a setgid dir", t.mkdir("g/sub"), "OK")
      t.check("subdir inherits the group", t.owner("g/sub"), "0:1234")
      t.check("subdir inherits setgid", t.mode("g/sub"), "dir 2755")
      t.check("grandchild too", t.put("g/sub/f", "y"), "OK")
      t.check("grandchild group", t.owner("g/sub/f"), "0:1234")
      t.check("mknod in a setgid dir", t.mknod("g/p", S_IFIFO | 0o644), "OK")
      t.check("fifo group", t.owner("g/p"), "0:1234")
      t.check("symlink in a setgid dir", t.symlink("f", "g/l"), "OK")
      t.check("symlink group", t.owner("g/l"), "0:1234")
      _ = t.mkdir("plain")
      _ = t.chown("plain", 0, 1234)
      t.check("create in a plain dir", t.put("plain/f", "x"), "OK")
      t.check("plain dir: creator's group", t.owner("plain/f"), "0:0")
      // A file created by a user outside the group in a setgid dir: the group still comes from the dir.
      _ = t.chmod("g", 0o2777)
      t.check("create as uid 1000", t.probe(["create", "@g/u"]), ["OK"])
      t.check("owner of the user's file", t.owner("g/u"), "1000:1234")
      t.check("mkdir as uid 1000", t.probe(["mkdir", "@g/ud", "777"]), ["OK"])
      t.check("user's subdir", t.mode("g/ud") + " " + t.owner("g/ud"), "dir 2755 1000:1234")
    }
  }

  func testSetuidClearedOnWrite() {
    sideBySide { t in
      t.put("f", "original")
      _ = t.chmod("f", 0o6777)
      t.check("mode before", t.mode("f"), "reg 6777")
      t.check("write by a non-owner", t.probe(["write", "@f", "X"]), ["OK"])
      t.check("setuid and setgid cleared", t.mode("f"), "reg 777")
      t.check("data written", t.get("f"), "Xriginal")
      t.put("g", "original")
      _ = t.chmod("g", 0o2767)
      t.check("write to setgid without group exec", t.probe(["write", "@g", "Y"]), ["OK"])
      t.check(
        "a non-member's write clears setgid even without group exec (Linux 6.x)", t.mode("g"),
        "reg 767")
      t.put("h", "original")
      _ = t.chmod("h", 0o4777)
      t.check("truncate by a non-owner", t.probe(["truncate", "@h", "3"]), ["OK"])
      t.check("setuid cleared by truncate", t.mode("h"), "reg 777")
      t.put("r", "original")
      _ = t.chmod("r", 0o6777)
      t.check("write by root", t.put("r", "Z", flags: O_WRONLY), "OK")
      t.check("root write does not clear setuid (CAP_FSETID)", t.mode("r"), "reg 6777")
      t.put("o", "x")
      _ = t.chown("o", 1000, 1000)
      _ = t.chmod("o", 0o6775)
      t.check("write by the owner", t.probe(["write", "@o", "W"]), ["OK"])
      t.check("owner write clears setuid and setgid", t.mode("o"), "reg 775")
    }
  }

  func testInodeNumbers() {
    sideBySide { t in
      var inos: [UInt] = []
      for i in 0..<20 {
        t.put("f\(i)", "x")
        inos.append(UInt(t.lstat("f\(i)")?.st_ino ?? 0))
      }
      _ = t.mkdir("d")
      _ = t.symlink("x", "l")
      _ = t.mknod("p", S_IFIFO | 0o644)
      inos += ["d", "l", "p", ""].map { UInt(t.lstat($0)?.st_ino ?? 0) }
      t.check(
        "all inode numbers distinct and non-zero",
        Set(inos).count == inos.count && !inos.contains(0), true)
      let ino = t.lstat("f0")!.st_ino
      t.check("stable across stat", t.lstat("f0")!.st_ino == ino, true)
      _ = t.rename("f0", "d/moved")
      t.check("stable across rename", t.lstat("d/moved")!.st_ino == ino, true)
      _ = t.link("d/moved", "hard")
      t.check("hard link shares it", t.lstat("hard")!.st_ino == ino, true)
      t.check("fstat agrees", t.withFD("hard", O_RDONLY) { t.fstat($0)!.st_ino } == ino, true)
      let readdirIno: UInt = {
        guard let dir = opendir(t.p("d")) else { return 0 }
        defer { closedir(dir) }
        while let e = readdir(dir) {
          let name = withUnsafeBytes(of: e.pointee.d_name) {
            String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
          }
          if name == "moved" { return UInt(e.pointee.d_ino) }
        }
        return 0
      }()
      t.check("readdir d_ino agrees with stat", readdirIno == UInt(ino), true)
      t.check(
        "st_dev is one for the whole mount", t.lstat("d")!.st_dev == t.lstat("")!.st_dev, true)
    }
  }
}
