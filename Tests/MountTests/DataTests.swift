import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// File data: sparse files, lseek SEEK_DATA/SEEK_HOLE, fallocate(2), mmap(2),
/// unlinked open files and statfs(2), side by side.
final class DataTests: ConformanceTestCase {
  let page = 4096

  func testSparseFiles() {
    sideBySide { t in
      let fd = Glibc.open(t.p("s"), O_RDWR | O_CREAT, 0o644)
      defer { close(fd) }
      t.check("write at 1 MiB", pwrite(fd, Array("end".utf8), at: 1 << 20), "OK")
      t.check("size", t.size("s"), (1 << 20) + 3)
      t.check("only one page stored", t.blocks("s"), 8)
      t.check(
        "hole reads zeros",
        pread(fd, count: 8192, at: 4096).map { $0.allSatisfy { $0 == 0 } && $0.count == 8192 }, true
      )
      t.check(
        "data after the hole",
        pread(fd, count: 3, at: 1 << 20).map { String(decoding: $0, as: UTF8.self) }, "end")
      t.check("read at EOF", pread(fd, count: 10, at: (1 << 20) + 3)?.count, 0)
      t.check("read past EOF", pread(fd, count: 10, at: 1 << 30)?.count, 0)
      t.check("write at 0", pwrite(fd, [1], at: 0), "OK")
      t.check("two pages stored", t.blocks("s"), 16)
      t.check("truncate to 1 TiB", t.truncate("s", 1 << 40), "OK")
      t.check("1 TiB size", t.size("s"), 1 << 40)
      t.check("1 TiB costs nothing", t.blocks("s"), 16)
      t.check("read near the 1 TiB end", pread(fd, count: 4, at: (1 << 40) - 2)?.count, 2)
      t.check("zeros near the end", pread(fd, count: 2, at: (1 << 40) - 2), [0, 0])
      t.check("write near the end", pwrite(fd, Array("Z".utf8), at: (1 << 40) - 1), "OK")
      t.check("three pages stored", t.blocks("s"), 24)
      t.check("the last byte", pread(fd, count: 1, at: (1 << 40) - 1), Array("Z".utf8))
      t.check("statfs: little used", t.statfs().map { Int($0.f_blocks - $0.f_bfree) < 1000 }, true)
      t.check("truncate back to 0", t.truncate("s", 0), "OK")
      t.check("blocks freed", t.blocks("s"), 0)
      t.check("write the last possible byte", pwrite(fd, [1], at: Int.max - 1), "OK")
      t.check("size is the maximum", t.size("s"), Int.max)
      t.check("one page stored", t.blocks("s"), 8)
      t.check("read the last byte", pread(fd, count: 1, at: Int.max - 1), [1])
      t.check("write at the maximum offset overflows", pwrite(fd, [1], at: Int.max), "EINVAL")
      t.check("truncate to 0 again", t.truncate("s", 0), "OK")
      t.check("st_blksize", t.lstat("s").map { Int($0.st_blksize) }, 4096)
    }
  }

  func testSeekDataHole() throws {
    try skipOnExt2(
      "fs/ext2 seeks with generic_file_llseek() (SEEK_HOLE is EOF, as vfsmount's ext2 does); the ext4 driver serving -t ext2 here maps holes"
    )
    sideBySide { t in
      let fd = Glibc.open(t.p("s"), O_RDWR | O_CREAT, 0o644)
      defer { close(fd) }
      func seek(_ off: Int, _ whence: Int32) -> String {
        let r = lseek(fd, off_t(off), whence)
        return r < 0 ? errnoName(errno) : String(r)
      }
      // Layout: data [0, 4096), hole [4096, 16384), data [16384, 20480), hole to 32768.
      t.check("write page 0", pwrite(fd, [UInt8](repeating: 7, count: page), at: 0), "OK")
      t.check("write page 4", pwrite(fd, [UInt8](repeating: 9, count: page), at: 4 * page), "OK")
      t.check("extend to 8 pages", result(ftruncate(fd, off_t(8 * page))), "OK")
      t.check("SEEK_DATA from 0", seek(0, Libc.SEEK_DATA), "0")
      t.check("SEEK_HOLE from 0", seek(0, Libc.SEEK_HOLE), "4096")
      t.check("SEEK_DATA from 100", seek(100, Libc.SEEK_DATA), "100")
      t.check("SEEK_DATA in a hole", seek(5000, Libc.SEEK_DATA), "16384")
      t.check("SEEK_HOLE in a hole", seek(5000, Libc.SEEK_HOLE), "5000")
      t.check("SEEK_HOLE in the second data", seek(16384, Libc.SEEK_HOLE), "20480")
      t.check("SEEK_DATA in the trailing hole", seek(20480, Libc.SEEK_DATA), "ENXIO")
      t.check("SEEK_HOLE in the trailing hole", seek(30000, Libc.SEEK_HOLE), "30000")
      t.check("SEEK_DATA at EOF", seek(8 * page, Libc.SEEK_DATA), "ENXIO")
      t.check("SEEK_HOLE at EOF", seek(8 * page, Libc.SEEK_HOLE), "ENXIO")
      t.check("SEEK_DATA negative", seek(-1, Libc.SEEK_DATA), "ENXIO")
      t.check("SEEK_SET negative", seek(-1, SEEK_SET), "EINVAL")
      t.check("SEEK_END", seek(-10, SEEK_END), String(8 * page - 10))
      t.check("SEEK_CUR", seek(5, SEEK_CUR), String(8 * page - 5))
      t.check("bad whence", seek(0, 42), "EINVAL")
      t.check("seek past EOF", seek(1 << 30, SEEK_SET), String(1 << 30))
      let e = Glibc.open(t.p("empty"), O_RDWR | O_CREAT, 0o644)
      t.check(
        "SEEK_DATA on an empty file", lseek(e, 0, Libc.SEEK_DATA) < 0 ? errnoName(errno) : "found",
        "ENXIO")
      t.check(
        "SEEK_HOLE on an empty file", lseek(e, 0, Libc.SEEK_HOLE) < 0 ? errnoName(errno) : "found",
        "ENXIO")
      close(e)
      _ = t.mkdir("d")
      t.check("lseek on a dir", t.withFD("d", O_RDONLY) { lseek($0, 0, SEEK_SET) }, 0)
    }
  }

  func testFallocate() throws {
    try skipOnExt2(
      "fs/ext2 has no fallocate (EOPNOTSUPP for every mode, as vfsmount's ext2); the ext4 driver serving -t ext2 here punches holes"
    )
    sideBySide { t in
      let fd = Glibc.open(t.p("f"), O_RDWR | O_CREAT, 0o644)
      defer { close(fd) }
      t.check("fallocate mode 0", result(Libc.fallocate(fd, 0, 0, 3 * page)), "OK")
      t.check("size grows", t.size("f"), 3 * page)
      t.check("blocks allocated", t.blocks("f"), 24)
      t.check(
        "allocated range reads zeros",
        pread(fd, count: 3 * page, at: 0).map { $0.allSatisfy { $0 == 0 } }, true)
      t.check(
        "KEEP_SIZE past EOF",
        result(Libc.fallocate(fd, Libc.FALLOC_FL_KEEP_SIZE, 3 * page, 2 * page)), "OK")
      t.check("size kept", t.size("f"), 3 * page)
      t.check("blocks include the preallocation", t.blocks("f"), 40)
      t.check("fill", pwrite(fd, [UInt8](repeating: 0xAB, count: 3 * page), at: 0), "OK")
      t.check(
        "PUNCH_HOLE|KEEP_SIZE the middle page",
        result(
          Libc.fallocate(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, page, page)),
        "OK")
      t.check("size after punch", t.size("f"), 3 * page)
      t.check("blocks after punch", t.blocks("f"), 32)
      t.check(
        "punched range reads zeros",
        pread(fd, count: page, at: page).map { $0.allSatisfy { $0 == 0 } }, true)
      t.check(
        "data before the hole kept",
        pread(fd, count: page, at: 0).map { $0.allSatisfy { $0 == 0xAB } }, true)
      t.check(
        "data after the hole kept",
        pread(fd, count: page, at: 2 * page).map { $0.allSatisfy { $0 == 0xAB } }, true)
      t.check("SEEK_HOLE finds the punched hole", lseek(fd, 0, Libc.SEEK_HOLE), off_t(page))
      t.check(
        "partial-page punch zeroes bytes",
        result(Libc.fallocate(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, 100, 10)),
        "OK")
      t.check(
        "partial punch", pread(fd, count: 12, at: 99),
        [0xAB] + [UInt8](repeating: 0, count: 10) + [0xAB])
      t.check(
        "PUNCH_HOLE without KEEP_SIZE",
        result(Libc.fallocate(fd, Libc.FALLOC_FL_PUNCH_HOLE, 0, page)), "EOPNOTSUPP")
      t.check("zero length", result(Libc.fallocate(fd, 0, 0, 0)), "EINVAL")
      t.check("negative offset", result(Libc.fallocate(fd, 0, -1, page)), "EINVAL")
      t.check("unknown mode bit", result(Libc.fallocate(fd, 0x1000, 0, page)), "EOPNOTSUPP")
      let ro = Glibc.open(t.p("f"), O_RDONLY)
      t.check("read-only fd", result(Libc.fallocate(ro, 0, 0, page)), "EBADF")
      close(ro)
      let app = Glibc.open(t.p("f"), O_WRONLY | O_APPEND)
      t.check(
        "fallocate on O_APPEND fd (mode 0 is allowed)", result(Libc.fallocate(app, 0, 0, page)),
        "OK")
      close(app)
      t.check("mode 0 inside the file keeps data", pread(fd, count: 1, at: 2 * page), [0xAB])
    }
  }

  func testUnlinkedOpenFile() {
    sideBySide { t in
      t.put("f", "before")
      let fd = Glibc.open(t.p("f"), O_RDWR)
      t.check("unlink an open file", t.unlink("f"), "OK")
      t.check("name gone", t.statResult("f"), "ENOENT")
      t.check("listing", t.ls(), "")
      t.check(
        "still readable", pread(fd, count: 6, at: 0).map { String(decoding: $0, as: UTF8.self) },
        "before")
      t.check("still writable", pwrite(fd, Array("after!".utf8), at: 6), "OK")
      t.check(
        "reads back", pread(fd, count: 12, at: 0).map { String(decoding: $0, as: UTF8.self) },
        "beforeafter!")
      t.check("fstat nlink 0", t.fstat(fd).map { Int($0.st_nlink) }, 0)
      t.check("fstat size", t.fstat(fd).map { Int($0.st_size) }, 12)
      t.check("ftruncate works", result(ftruncate(fd, 3)), "OK")
      t.check("fchmod works", result(fchmod(fd, 0o600)), "OK")
      t.check("fstat mode", t.fstat(fd).map { octal($0.perms) }, "600")
      t.check(
        "fsetxattr works",
        result(
          Array("v".utf8).withUnsafeBytes { Libc.fsetxattr(fd, "user.k", $0.baseAddress, 1, 0) }),
        "OK")
      t.check("a new file may take the name", t.put("f", "new"), "OK")
      t.check("new file is separate", t.get("f"), "new")
      t.check(
        "old file unchanged by the new",
        pread(fd, count: 10, at: 0).map { String(decoding: $0, as: UTF8.self) }, "bef")
      // Space comes back after the last close. Measured while `fd` still
      // holds "f" open: its space comes back only after a RELEASE the kernel
      // sends once close() has returned, which would move the counts here.
      let used0 = t.statfs().map { Int($0.f_bfree) } ?? 0
      let big = Glibc.open(t.p("big"), O_RDWR | O_CREAT, 0o644)
      _ = pwrite(big, [UInt8](repeating: 1, count: 1 << 20), at: 0)
      _ = t.unlink("big")
      let used1 = t.statfs().map { Int($0.f_bfree) } ?? 0
      t.check("space held while open", used0 - used1 >= 256, true)
      close(big)
      // FUSE: the RELEASE comes after close returns; wait for it (bounded).
      var used2 = t.statfs().map { Int($0.f_bfree) } ?? 0
      let freedBy = Date().addingTimeInterval(20)
      while used2 - used1 < 256, Date() < freedBy {
        usleep(10_000)
        used2 = t.statfs().map { Int($0.f_bfree) } ?? 0
      }
      t.check("space freed after close", used2 - used1 >= 256, true)
      t.check("close", result(close(fd)), "OK")
    }
  }

  func testMmap() {
    sideBySide { t in
      t.put("f", String(repeating: "a", count: 2 * page))
      let fd = Glibc.open(t.p("f"), O_RDWR)
      defer { close(fd) }
      guard let shared = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
        shared != MAP_FAILED
      else {
        t.check("mmap shared", errnoName(errno), "OK")
        return
      }
      t.check("mmap shared", "OK", "OK")
      let bytes = shared.assumingMemoryBound(to: UInt8.self)
      t.check("mapped data matches read", bytes[0], UInt8(ascii: "a"))
      bytes[10] = UInt8(ascii: "S")
      bytes[page + 1] = UInt8(ascii: "T")
      t.check("msync", result(msync(shared, 2 * page, MS_SYNC)), "OK")
      t.check("read sees the shared store", pread(fd, count: 1, at: 10), Array("S".utf8))
      t.check("read sees the second page", pread(fd, count: 1, at: page + 1), Array("T".utf8))
      t.check("another open sees it", Array(t.bytes("f").dropFirst(9).prefix(3)), Array("aSa".utf8))
      t.check("write is seen through the map", pwrite(fd, Array("W".utf8), at: 20), "OK")
      t.check("map sees write", bytes[20], UInt8(ascii: "W"))
      munmap(shared, 2 * page)
      guard let priv = mmap(nil, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0),
        priv != MAP_FAILED
      else {
        t.check("mmap private", errnoName(errno), "OK")
        return
      }
      t.check("mmap private", "OK", "OK")
      let p = priv.assumingMemoryBound(to: UInt8.self)
      t.check("private map reads file data", p[10], UInt8(ascii: "S"))
      p[0] = UInt8(ascii: "P")
      t.check("private store is not written back", pread(fd, count: 1, at: 0), Array("a".utf8))
      t.check("private map keeps its copy", p[0], UInt8(ascii: "P"))
      munmap(priv, page)
      t.check("size unchanged", t.size("f"), 2 * page)
      let ro = Glibc.open(t.p("f"), O_RDONLY)
      let m = mmap(nil, page, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0)
      t.check(
        "shared writable map of a read-only fd", m == MAP_FAILED ? errnoName(errno) : "mapped",
        "EACCES")
      close(ro)
      // Mapping past EOF: the tail of the last page is zero.
      t.put("g", "xyz")
      let g = Glibc.open(t.p("g"), O_RDONLY)
      if let mg = mmap(nil, page, PROT_READ, MAP_SHARED, g, 0), mg != MAP_FAILED {
        let b = mg.assumingMemoryBound(to: UInt8.self)
        t.check("map of a short file", [b[0], b[2], b[3], b[page - 1]], [120, 122, 0, 0])
        munmap(mg, page)
      } else {
        t.check("map of a short file", [UInt8](), [120, 122, 0, 0])
      }
      close(g)
    }
  }

  func testStatfs() {
    sideBySide { t in
      let s0 = t.statfs()!
      t.check("f_namemax", Int(s0.f_namemax), 255)
      t.check("f_bsize", Int(s0.f_bsize), 4096)
      t.check("f_frsize", Int(s0.f_frsize), 4096)
      t.check("f_bavail == f_bfree", s0.f_bavail == s0.f_bfree, true)
      t.check("blocks reported", s0.f_blocks > 0 && s0.f_bfree <= s0.f_blocks, true)
      t.check("inodes reported", s0.f_files > 0 && s0.f_ffree <= s0.f_files, true)
      // The kernel's FUSE reports FUSE_SUPER_MAGIC whatever the daemon says.
      let referenceMagic = t.name == "kernel ext2" ? 0xEF53 : Libc.TMPFS_MAGIC  // EXT2_SUPER_MAGIC
      t.check(
        "f_type is the reference's magic (tmpfs, ext2) or FUSE_SUPER_MAGIC (FUSE)",
        Libc.fsType(t.p("")) == (t.name == "vfsmount" ? 0x6573_5546 : referenceMagic), true)
      t.check("write 1 MiB", t.put("big", String(repeating: "x", count: 1 << 20)), "OK")
      let s1 = t.statfs()!
      t.check("f_bfree drops by 256 blocks", Int(s0.f_bfree) - Int(s1.f_bfree), 256)
      t.check("f_blocks unchanged", s1.f_blocks == s0.f_blocks, true)
      t.check("f_ffree drops by one", Int(s0.f_ffree) - Int(s1.f_ffree), 1)
      for i in 0..<10 { _ = t.mkdir("d\(i)") }
      t.check("f_ffree drops per inode", Int(s1.f_ffree) - Int(t.statfs()!.f_ffree), 10)
      _ = t.unlink("big")
      let s2 = t.statfs()!
      t.check("unlink frees the blocks", Int(s2.f_bfree) - Int(s1.f_bfree), 256)
      t.check("statfs of a file agrees", t.statfs("d0").map { $0.f_blocks == s2.f_blocks }, true)
      t.check("statfs missing", statvfsPath(t.p("none")) == nil ? errnoName(errno) : "OK", "ENOENT")
    }
  }
}
