import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `-o size=1m`: ENOSPC at the limit, nothing written before is lost, statfs and df agree.
final class SizeLimitTests: ConformanceTestCase {
  override class var mountOptions: [String] { super.mountOptions + ["size=1m"] }
  override class var tmpfsOptions: [String] { ["size=1m"] }

  func testENOSPC() {
    sideBySide { t in
      let s0 = t.statfs()!
      t.check("f_blocks is 1 MiB", Int(s0.f_blocks) * Int(s0.f_frsize), 1 << 20)
      t.check("f_bfree is all of it", Int(s0.f_bfree), Int(s0.f_blocks))
      t.check("a small file", t.put("small", "keep me"), "OK")
      let fd = Glibc.open(t.p("big"), O_WRONLY | O_CREAT, 0o644)
      var written = 0
      var error = "none"
      let chunk = [UInt8](repeating: 0x5A, count: 64 * 1024)
      while written < 4 << 20 {
        let n = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
          error = errnoName(errno)
          break
        }
        written += n
      }
      close(fd)
      t.check("writing past the limit fails", error, "ENOSPC")
      t.check("written bytes fill the rest", written, (1 << 20) - 4096)
      t.check("size matches what was written", t.size("big"), written)
      t.check("data written before is intact", t.bytes("big").allSatisfy { $0 == 0x5A }, true)
      t.check("the small file survives", t.get("small"), "keep me")
      t.check("statfs shows it full", t.statfs().map { Int($0.f_bfree) }, 0)
      t.check("a new file can still be created", t.put("empty", ""), "OK")
      t.check("but not written", t.put("more", "x"), "ENOSPC")
      t.check(
        "fallocate beyond the limit",
        t.withFD("small", O_WRONLY) { result(Libc.fallocate($0, 0, 0, 1 << 20)) }, "ENOSPC")
      t.check("fallocate failure keeps the size", t.size("small"), 7)
      t.check("truncate up costs nothing", t.truncate("small", 1 << 30), "OK")
      t.check("a hole needs no space", t.size("small"), 1 << 30)
      let r = t.sh("df -B1 --output=size,used,avail \"$M\" | tail -1")
      t.check(
        "df", r.out.split(separator: " ").map(String.init).joined(separator: " "),
        "1048576 1048576 0")
      t.check("unlink frees space", t.unlink("big"), "OK")
      t.check("space back", t.statfs().map { Int($0.f_bfree) }, 255)
      t.check("writing works again", t.put("more", "x"), "OK")
      let r2 = t.sh("df -B1 --output=size,used,avail \"$M\" | tail -1")
      t.check(
        "df after", r2.out.split(separator: " ").map(String.init).joined(separator: " "),
        "1048576 8192 1040384")
    }
  }
}

/// `-o nr_inodes=50`: ENOSPC past the inode limit, statfs agrees.
final class InodeLimitTests: ConformanceTestCase {
  override class var mountOptions: [String] { super.mountOptions + ["nr_inodes=50"] }
  override class var tmpfsOptions: [String] { ["nr_inodes=50"] }

  func testENOSPC() {
    sideBySide { t in
      let s0 = t.statfs()!
      t.check("f_files", Int(s0.f_files), 50)
      let free = Int(s0.f_ffree)
      var made = 0
      var error = "none"
      while made < 100 {
        let r = t.put("f\(made)", "\(made)")
        if r != "OK" {
          error = r
          break
        }
        made += 1
      }
      t.check("creating past the limit fails", error, "ENOSPC")
      // vfsmount's root also holds the dev and proc mount points: compare against f_ffree.
      t.check("every free inode was used (created == f_ffree before)", made == free, true)
      t.check("f_ffree is 0", t.statfs().map { Int($0.f_ffree) }, 0)
      t.check("mkdir fails too", t.mkdir("d"), "ENOSPC")
      t.check("symlink fails too", t.symlink("x", "l"), "ENOSPC")
      t.check("mknod fails too", t.mknod("p", S_IFIFO | 0o644), "ENOSPC")
      t.check("tmpfs charges a hard link against nr_inodes", t.link("f0", "h"), "ENOSPC")
      t.check("files intact", (0..<made).allSatisfy { t.get("f\($0)") == "\($0)" }, true)
      t.check("unlink one", t.unlink("f1"), "OK")
      t.check("one inode free", t.statfs().map { Int($0.f_ffree) }, 1)
      t.check("now the link fits", t.link("f0", "h"), "OK")
      t.check("full again", t.statfs().map { Int($0.f_ffree) }, 0)
      t.check(
        "df -i",
        t.sh("df --output=itotal,iavail \"$M\" | tail -1").out.split(separator: " ").joined(
          separator: " "), "50 0")
      t.check("unlink the link", t.unlink("h"), "OK")
      t.check("create again", t.put("again", "a"), "OK")
      t.check("and full again", t.put("again2", "a"), "ENOSPC")
    }
  }
}
