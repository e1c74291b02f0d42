import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Request sizes and counts a FUSE bridge must handle: tiny getdents buffers, big
/// single writes, reads across hole and data, many descriptors, big xattrs.
final class IOTests: ConformanceTestCase {
  func testGetdentsWithTinyBuffers() {
    sideBySide { t in
      _ = t.mkdir("d")
      var expected: [String] = []
      for i in 0..<300 {
        let name = "n\(i)" + String(repeating: "_", count: i % 40)
        expected.append(name)
        _ = t.put("d/" + name, "")
      }
      let getdents64 = libcFunction(
        "getdents64", as: (@convention(c) (Int32, UnsafeMutableRawPointer, Int) -> Int).self)
      for size in [96, 512, 4096] {
        let fd = Glibc.open(t.p("d"), O_RDONLY | O_DIRECTORY)
        var names: [String] = []
        var calls = 0
        var failure = "none"
        let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        while calls < 10_000 {
          let n = getdents64(fd, buf, size)
          if n < 0 {
            failure = errnoName(errno)
            break
          }
          if n == 0 { break }
          calls += 1
          var off = 0
          while off < n {
            let reclen = Int(buf.load(fromByteOffset: off + 16, as: UInt16.self))
            let namePtr = buf.advanced(by: off + 19).assumingMemoryBound(to: CChar.self)
            let name = String(cString: namePtr)
            if name != "." && name != ".." { names.append(name) }
            off += reclen
          }
        }
        buf.deallocate()
        close(fd)
        t.check("getdents64 with \(size) bytes: no error", failure, "none")
        t.check("getdents64 with \(size) bytes: every name once", names.sorted(), expected.sorted())
        t.check("getdents64 with \(size) bytes: needs several calls", calls > 1, true)
      }
      let fd = Glibc.open(t.p("d"), O_RDONLY | O_DIRECTORY)
      let buf = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 8)
      t.check(
        "getdents64 with a buffer too small for one entry",
        getdents64(fd, buf, 16) < 0 ? errnoName(errno) : "read", "EINVAL")
      buf.deallocate()
      close(fd)
    }
  }

  func testBigSingleWritesAndReads() {
    sideBySide { t in
      let size = 8 << 20
      var data = [UInt8](repeating: 0, count: size)
      for i in 0..<size { data[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
      let fd = Glibc.open(t.p("big"), O_RDWR | O_CREAT | O_TRUNC, 0o644)
      let n = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
      t.check("one 8 MiB write()", n, size)
      var back = [UInt8](repeating: 0, count: size)
      let m = back.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress, $0.count, 0) }
      t.check("one 8 MiB pread()", m, size)
      t.check("8 MiB round trip", back == data, true)
      t.check(
        "unaligned read across pages",
        pread(fd, count: 10_000, at: 4_000).map { $0 == Array(data[4_000..<14_000]) }, true)
      t.check(
        "unaligned overwrite", pwrite(fd, [UInt8](repeating: 0xEE, count: 5_000), at: 4_095), "OK")
      t.check(
        "bytes around the overwrite",
        pread(fd, count: 5_002, at: 4_094).map { [$0.first!, $0[1], $0[5_000], $0.last!] },
        [data[4_094], 0xEE, 0xEE, data[9_095]])
      close(fd)
      // Reads that cross from a hole into data and from data into a hole.
      let s = Glibc.open(t.p("sparse"), O_RDWR | O_CREAT | O_TRUNC, 0o644)
      _ = pwrite(s, [UInt8](repeating: 7, count: 100), at: 8192)
      t.check(
        "hole into data", pread(s, count: 200, at: 8092).map { Array($0[98...101]) }, [0, 0, 7, 7])
      t.check("data into EOF", pread(s, count: 200, at: 8192 + 50)?.count, 50)
      _ = ftruncate(s, 20_000)
      t.check(
        "data into a trailing hole",
        pread(s, count: 200, at: 8192 + 50).map { [$0.count, Int($0[49]), Int($0[50])] },
        [200, 7, 0])
      close(s)
    }
  }

  func testManyOpenFiles() {
    sideBySide { t in
      var rl = rlimit()
      getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
      let count = min(1000, Int(rl.rlim_cur) - 100)
      var fds: [Int32] = []
      for i in 0..<count {
        let fd = Glibc.open(t.p("f\(i % 50)"), O_RDWR | O_CREAT, 0o644)
        if fd >= 0 { fds.append(fd) }
      }
      t.check("\(count) descriptors open", fds.count, count)
      var ok = true
      for (i, fd) in fds.enumerated() where pwrite(fd, Array("\(i)".utf8), at: i * 8) != "OK" {
        ok = false
      }
      t.check("each writes through its own descriptor", ok, true)
      for fd in fds { close(fd) }
      t.check(
        "data from the last writer of file 0", t.bytes("f0").count,
        (count - 50) * 8 + "\(count - 50)".count)
      t.check("listing", t.ls().split(separator: ",").count, 50)
    }
  }

  func testBigAndManyXattrs() {
    sideBySide { t in
      t.put("f", "")
      let v = String(repeating: "x", count: 65536)
      if testsOnExt2 {
        // A value must fit one block: fs/ext2's ext2_xattr_set() says ERANGE, the
        // ext4 driver serving -t ext2 here ENOSPC.
        t.check("a 64 KiB value is refused", t.setxattr("f", "user.max", v) != "OK", true)
      } else {
        t.check("a 64 KiB value (XATTR_SIZE_MAX)", t.setxattr("f", "user.max", v), "OK")
        t.check("read the 64 KiB value", t.getxattr("f", "user.max").count, 65536)
        t.check("remove it", t.removexattr("f", "user.max"), "OK")
      }
      var ok = true
      for i in 0..<100 where t.setxattr("f", "user.attr\(i)", "value\(i)") != "OK" { ok = false }
      t.check("100 attributes", ok, true)
      t.check("list all 100", t.listxattr("f").split(separator: ",").count, 100)
      t.check(
        "list size", t.listxattrSize("f", bufferSize: 0),
        String((0..<100).map { "user.attr\($0)".count + 1 }.reduce(0, +)))
      t.check("get the 57th", t.getxattr("f", "user.attr57"), "value57")
    }
  }
}

/// Mount points inside the tree: vfsmount mounts devfs on /dev; the tmpfs twin gets
/// a nested tmpfs on /dev. Crossing a superblock is EXDEV; a mount point is EBUSY.
final class MountPointTests: ConformanceTestCase {
  override func setUpWithError() throws {
    try super.setUpWithError()
    let dev = tmpfs.path + "/dev"
    guard Glibc.mkdir(dev, 0o755) == 0, MountTests.run("mount", ["-t", "tmpfs", "none", dev]).ok
    else {
      throw SupportError("cannot mount a tmpfs on \(dev)")
    }
  }

  override func tearDownWithError() throws {
    if let tmpfs { umount2(tmpfs.path + "/dev", Int32(MNT_DETACH)) }
    try super.tearDownWithError()
  }

  func testCrossingSuperblocks() {
    sideBySide { t in
      t.put("f", "x")
      _ = t.mkdir("d")
      let dev = t.mount + "/dev"
      t.check("/dev is a directory", t.mode(dev).hasPrefix("dir"), true)
      t.check("rename into another superblock", t.rename("f", dev + "/f"), "EXDEV")
      t.check("link into another superblock", t.link("f", dev + "/f"), "EXDEV")
      t.check("rename a dir into another superblock", t.rename("d", dev + "/d"), "EXDEV")
      t.check("rmdir a mount point", t.rmdir(dev), "EBUSY")
      t.check("rename a mount point", t.rename(dev, t.mount + "/dev2"), "EBUSY")
      t.check("rename a dir over a mount point", t.rename("d", dev), "EBUSY")
      t.check("the file is still here", t.get("f"), "x")
      t.check("the dir is still here", t.mode("d"), "dir 755")
    }
  }
}
