import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Character devices on a real mount: the built-ins side by side with the
/// host's own /dev/null, /dev/zero and /dev/full, mknod, scull from a shell,
/// and the log device's blocking reads and poll.
///
/// At the FUSE boundary a char node that a Swift driver serves is a regular
/// file opened with direct I/O (DESIGN.md), so `stat` says "regular file";
/// its number is in /proc/vfs/devnodes. Driverless char nodes and block nodes
/// are shown as they are; the kernel refuses to open them on this nodev mount.
/// CharNodeViewTests compares that rule with tmpfs.
final class DeviceMountTests: MountTestCase {
  override class var usesTmpfs: Bool { false }

  var dev: String { vfs.path + "/dev" }

  // MARK: - Helpers

  /// Reads up to `count` bytes from `path` at `offset`: the bytes, or the errno name.
  func readBytes(_ path: String, count: Int, offset: off_t = 0) -> Result<[UInt8], DevErrno> {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return .failure(DevErrno(errno)) }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0xAA, count: count)
    let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, offset) }
    guard n >= 0 else { return .failure(DevErrno(errno)) }
    return .success(Array(buf.prefix(n)))
  }

  /// Writes `bytes` to `path` (opened O_WRONLY) at `offset`: the count, or the errno name.
  func writeBytes(_ path: String, _ bytes: [UInt8], offset: off_t = 0) -> String {
    let fd = open(path, O_WRONLY)
    guard fd >= 0 else { return "open " + errnoName(errno) }
    defer { close(fd) }
    let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, offset) }
    return n >= 0 ? "\(n)" : errnoName(errno)
  }

  func xattr(_ path: String, _ name: String) -> String? {
    var buf = [UInt8](repeating: 0, count: 256)
    let n = Libc.getxattr(path, name, &buf, buf.count)
    return n < 0 ? nil : String(decoding: buf.prefix(n), as: UTF8.self)
  }

  func bash(_ script: String) -> RunResult { runCommand("bash", ["-c", script]) }

  func python(_ script: String, _ args: [String] = [], timeout: Double = 30) -> RunResult {
    runCommand("python3", ["-c", script] + args, timeout: timeout)
  }

  // MARK: - mem devices, side by side with the host's

  func testNullZeroFullLikeTheHosts() throws {
    for name in ["null", "zero", "full"] {
      let host = "/dev/\(name)"
      let ours = "\(dev)/\(name)"
      for (count, offset) in [(0, 0), (1, 0), (4096, 0), (100_000, 12345), (1 << 20, 0)] {
        let a = readBytes(host, count: count, offset: off_t(offset))
        let b = readBytes(ours, count: count, offset: off_t(offset))
        XCTAssertEqual(a, b, "read \(count) at \(offset) from \(name)")
      }
      for bytes in [Array("hello\n".utf8), [UInt8](repeating: 7, count: 300_000)] {
        XCTAssertEqual(
          writeBytes(host, bytes), writeBytes(ours, bytes), "write \(bytes.count) to \(name)")
      }
      // The one difference: FUSE answers an empty write itself (0) and never
      // sends it, where the host's /dev/full driver says ENOSPC even then.
      XCTAssertEqual(writeBytes(ours, []), "0")
      XCTAssertEqual(
        writeBytes(host, [1], offset: 1 << 30), writeBytes(ours, [1], offset: 1 << 30), name)
      // An ioctl none of them knows.
      let fds = [open(host, O_RDONLY), open(ours, O_RDONLY)]
      defer {
        for fd in fds { close(fd) }
      }
      var results: [String] = []
      for fd in fds {
        var arg: Int32 = 0
        results.append(result(ioctl(fd, 0x8004_6b05, &arg)))
      }
      XCTAssertEqual(results[0], results[1], "ioctl on \(name)")
    }
  }

  func testTheIssuesShellLines() {
    let d = shq(dev)
    let zeros = sh("head -c 1M \(d)/zero | wc -c")
    XCTAssertEqual(zeros.out.trimmingCharacters(in: .whitespaces), "1048576", "\(zeros)")
    let cat = sh("cat \(d)/zero | head -c 1M | wc -c")
    XCTAssertEqual(cat.out.trimmingCharacters(in: .whitespaces), "1048576", "\(cat)")
    let null = sh("echo hi > \(d)/null")
    XCTAssertEqual(null.status, 0, "\(null)")
    // bash says why (dash's echo reports any write error as "I/O error").
    let full = bash("echo x > \(d)/full")
    XCTAssertNotEqual(full.status, 0)
    XCTAssertTrue(full.stderr.contains("No space left on device"), "\(full)")
    let hostFull = bash("echo x > /dev/full")
    XCTAssertEqual(full.status, hostFull.status)
    XCTAssertEqual(
      full.stderr.replacingOccurrences(of: dev, with: "/dev"), hostFull.stderr, "the same message")
    let nothing = sh("cat \(d)/null | wc -c")
    XCTAssertEqual(nothing.out.trimmingCharacters(in: .whitespaces), "0")
  }

  func testRandomAndUrandom() throws {
    for name in ["random", "urandom"] {
      let a = try readBytes("\(dev)/\(name)", count: 4096).get()
      let b = try readBytes("\(dev)/\(name)", count: 4096).get()
      XCTAssertEqual(a.count, 4096)
      XCTAssertNotEqual(a, b)
      XCTAssertGreaterThan(Set(a).count, 200)
      XCTAssertEqual(
        writeBytes("\(dev)/\(name)", [1, 2, 3]), writeBytes("/dev/\(name)", [1, 2, 3]))
    }
    let big = sh("head -c 3000000 \(shq(dev))/urandom | wc -c")
    XCTAssertEqual(big.out.trimmingCharacters(in: .whitespaces), "3000000")
  }

  // MARK: - Nodes, mknod

  func testNodesAndTheirNumbers() {
    let expected = [
      "null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8", "urandom": "1:9",
      "scull0": "254:0", "scull1": "254:1", "scull2": "254:2", "scull3": "254:3", "log": "253:0",
    ]
    let listing = Set((try? FileManager.default.contentsOfDirectory(atPath: dev)) ?? [])
    XCTAssertTrue(Set(expected.keys).isSubset(of: listing), "\(listing)")
    let table = devnodes()
    for (name, rdev) in expected {
      let path = "\(dev)/\(name)"
      XCTAssertEqual(table["/dev/\(name)"]?.number, rdev, name)
      XCTAssertNotEqual(table["/dev/\(name)"]?.driver, "-", name)
      var st = stat()
      XCTAssertEqual(stat(path, &st), 0)
      XCTAssertEqual(st.st_mode & S_IFMT, S_IFREG, "\(name): a regular file at the boundary")
      XCTAssertEqual(st.st_mode & 0o777, 0o666, name)
    }
    // user.* stays refused on device nodes, as in Linux: no made-up names.
    XCTAssertNil(xattr("\(dev)/zero", "user.dev.rdev"))
    var list = [CChar](repeating: 0, count: 256)
    XCTAssertEqual(Libc.listxattr("\(dev)/null", &list, list.count), 0)
    XCTAssertEqual(Libc.setxattr("\(dev)/null", "user.x", "9:9", 3, 0), -1)
    XCTAssertEqual(errnoName(errno), "EPERM")
  }

  /// /proc/vfs/devnodes by path: the number and the driver ("-": none).
  func devnodes() -> [String: (number: String, driver: String)] {
    let text = (try? String(contentsOfFile: vfs.path + "/proc/vfs/devnodes", encoding: .utf8)) ?? ""
    var rows: [String: (number: String, driver: String)] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      let fields = line.split(separator: " ").map(String.init)
      if fields.count == 4 { rows[fields[0]] = (fields[2], fields[3]) }
    }
    return rows
  }

  func testMknodOfARegisteredMajor() {
    let d = shq(dev)
    let root = shq(vfs.path)
    let made = sh(
      "mknod \(d)/mynull c 1 3 && mknod \(root)/myzero c 1 5 && mkdir \(root)/sub && mknod \(root)/sub/myfull c 1 7"
    )
    XCTAssertEqual(made.status, 0, "\(made)")
    XCTAssertEqual(devnodes()["/dev/mynull"]?.number, "1:3")
    XCTAssertEqual(writeBytes("\(dev)/mynull", Array("abc".utf8)), "3")
    XCTAssertEqual(readBytes("\(dev)/mynull", count: 10), .success([]))
    XCTAssertEqual(readBytes("\(vfs.path)/myzero", count: 5), .success([0, 0, 0, 0, 0]))
    let full = bash("echo x > \(root)/sub/myfull")
    XCTAssertTrue(full.stderr.contains("No space left on device"), "\(full)")
    // A node for a scull device reaches that device.
    let scull = sh("mknod \(root)/s c 254 2 && echo shared > \(root)/s && cat \(d)/scull2")
    XCTAssertEqual(scull.stdout, "shared\n", "\(scull)")
    // rm and the mount goes on.
    XCTAssertEqual(sh("rm \(d)/mynull \(root)/myzero").status, 0)
    XCTAssertNil(devnodes()["/dev/mynull"])
    XCTAssertEqual(sh("test -e \(d)/mynull").status, 1)
  }

  /// A node with no driver behind its number is a char node to the kernel,
  /// which refuses to open it on this nodev mount (EACCES).
  func testMknodOfAnUnregisteredMajorIsACharNodeThatWontOpen() {
    let d = shq(dev)
    XCTAssertEqual(sh("mknod \(d)/nothing c 250 0").status, 0)
    XCTAssertEqual(devnodes()["/dev/nothing"]?.number, "250:0")
    XCTAssertEqual(devnodes()["/dev/nothing"]?.driver, "-")
    let cat = sh("cat \(d)/nothing")
    XCTAssertNotEqual(cat.status, 0)
    XCTAssertTrue(cat.stderr.contains("Permission denied"), "\(cat)")
    XCTAssertEqual(readBytes("\(dev)/nothing", count: 1), .failure(DevErrno(EACCES)))
    let ls = sh("ls -l \(d)/nothing")
    XCTAssertTrue(ls.stdout.hasPrefix("c"), "\(ls)")
    XCTAssertTrue(ls.stdout.contains("250, 0"), "\(ls)")
    // A mem minor without a driver too (1:11 is kmsg in Linux).
    XCTAssertEqual(sh("mknod \(d)/kmsg c 1 11").status, 0)
    XCTAssertEqual(readBytes("\(dev)/kmsg", count: 1), .failure(DevErrno(EACCES)))
    XCTAssertEqual(devnodes()["/dev/kmsg"]?.driver, "-")
  }

  func testBlockNodesCanBeMadeAndStated() {
    XCTAssertEqual(sh("mknod \(shq(dev))/sda b 8 0 && mknod \(shq(vfs.path))/sdb b 8 16").status, 0)
    for (path, minor) in [("\(dev)/sda", 0), ("\(vfs.path)/sdb", 16)] {
      var st = stat()
      XCTAssertEqual(stat(path, &st), 0)
      XCTAssertEqual(st.st_mode & S_IFMT, S_IFBLK, path)
      XCTAssertEqual(devMajor(st.st_rdev), 8)
      XCTAssertEqual(devMinor(st.st_rdev), UInt32(minor))
      // Never opened: the kernel refuses a block node on this nodev mount
      // (EACCES) before the VFS could answer ENXIO.
      XCTAssertLessThan(open(path, O_RDONLY), 0)
      XCTAssertTrue(["EACCES", "ENXIO"].contains(errnoName(errno)), errnoName(errno))
    }
    let ls = sh("ls -l \(shq(dev))/sda")
    XCTAssertTrue(ls.stdout.hasPrefix("b"), "\(ls)")
    XCTAssertTrue(ls.stdout.contains("8, 0"), "\(ls)")
  }

  // MARK: - scull

  func testScullFromTheShell() {
    let d = shq(dev)
    let rw = sh(
      "echo hello > \(d)/scull0 && cat \(d)/scull0 && echo again >> \(d)/scull0 && cat \(d)/scull0")
    XCTAssertEqual(rw.stdout, "hello\nagain\n", "O_WRONLY opens empty it, as in LDD3: \(rw)")
    // dd at offsets; holes read as zeros. `dd of=` would open write-only and
    // so empty the device (LDD3's rule): write in place through `1<>` instead.
    let dd = sh(
      """
      printf ABCDEFGHIJ > \(d)/scull1 &&
      printf xy | dd bs=1 seek=3 conv=notrunc status=none 1<>\(d)/scull1 &&
      printf Z | dd bs=1 seek=20 conv=notrunc status=none 1<>\(d)/scull1 &&
      od -An -c \(d)/scull1 | tr -s ' '
      """)
    XCTAssertEqual(
      dd.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " "),
      "A B C x y F G H I J \\0 \\0 \\0 \\0 \\0 \\0 \\0 \\0 \\0 \\0 Z", "\(dd)")
    let skip = sh("dd if=\(d)/scull1 bs=1 skip=5 count=3 status=none")
    XCTAssertEqual(skip.stdout, "FGH")
  }

  func testScullSeekAndBigData() {
    let r = python(
      """
      import os, sys
      p = sys.argv[1]
      fd = os.open(p, os.O_RDWR | os.O_TRUNC)
      data = bytes(i % 251 for i in range(100000))
      view, done = memoryview(data), 0
      while done < len(data):
          done += os.write(fd, view[done:])
      os.lseek(fd, 0, os.SEEK_SET)
      back = b""
      while True:
          chunk = os.read(fd, 65536)
          if not chunk: break
          back += chunk
      assert back == data, (len(back), len(data))
      os.lseek(fd, 54321, os.SEEK_SET); assert os.read(fd, 3) == data[54321:54324]
      os.lseek(fd, 10, os.SEEK_CUR); assert os.read(fd, 1) == data[54334:54335]
      assert os.pread(fd, 5, 99998) == data[99998:]
      print("ok")
      """, ["\(dev)/scull3"])
    XCTAssertEqual(r.out, "ok", "\(r)")
  }

  func testScullIoctlsFromAShell() {
    // The README's one-liners.
    let query = sh(
      "python3 -c 'import fcntl,os; fd=os.open(\"'\(dev)/scull0'\", os.O_RDONLY); print(fcntl.ioctl(fd, 0x6b07))'"
    )
    XCTAssertEqual(query.out, "4000", "\(query)")
    let r = python(
      """
      import fcntl, os, struct, sys, errno
      fd = os.open(sys.argv[1], os.O_RDWR)
      out = []
      out.append(fcntl.ioctl(fd, 0x6b07))                          # SCULL_IOCQQUANTUM
      out.append(fcntl.ioctl(fd, 0x6b08))                          # SCULL_IOCQQSET
      out.append(fcntl.ioctl(fd, 0x6b03, 1000))                    # SCULL_IOCTQUANTUM
      out.append(fcntl.ioctl(fd, 0x6b07))
      out.append(struct.unpack("i", fcntl.ioctl(fd, 0x80046b05, bytes(4)))[0])    # G
      fcntl.ioctl(fd, 0x40046b02, struct.pack("i", 50)); out.append("S")        # S qset
      out.append(struct.unpack("i", fcntl.ioctl(fd, 0x80046b06, bytes(4)))[0])    # G qset
      out.append(struct.unpack("i", fcntl.ioctl(fd, 0xc0046b09, struct.pack("i", 300)))[0])  # X
      out.append(fcntl.ioctl(fd, 0x6b0b, 200))                     # H: returns the old value
      out.append(fcntl.ioctl(fd, 0x6b07))
      for bad in (0x6b0d, 0x7800, 0x80086b05):
          try:
              fcntl.ioctl(fd, bad); out.append("no error")
          except OSError as e:
              out.append(errno.errorcode[e.errno])
      try:
          fcntl.ioctl(fd, 0x6b03, 0)
      except OSError as e:
          out.append(errno.errorcode[e.errno])
      os.write(fd, b"data")
      out.append(fcntl.ioctl(fd, 0x6b00))                          # SCULL_IOCRESET
      out.append(fcntl.ioctl(fd, 0x6b07))
      out.append(fcntl.ioctl(fd, 0x6b08))
      out.append(len(os.pread(fd, 100, 0)))
      print(" ".join(map(str, out)))
      """, ["\(dev)/scull0"])
    XCTAssertEqual(
      r.out,
      "4000 1000 0 1000 1000 S 50 1000 300 200 ENOTTY ENOTTY ENOTTY EINVAL 0 4000 1000 0",
      "\(r)")
    // Only root may change the settings (CAP_SYS_ADMIN in LDD3).
    let user = python(
      """
      import fcntl, os, sys, errno
      os.setgid(1000); os.setuid(1000)
      fd = os.open(sys.argv[1], os.O_RDONLY)
      q = fcntl.ioctl(fd, 0x6b07)
      try:
          fcntl.ioctl(fd, 0x6b03, 10); print(q, "changed")
      except OSError as e:
          print(q, errno.errorcode[e.errno])
      """, ["\(dev)/scull0"])
    XCTAssertEqual(user.out, "4000 EPERM", "\(user)")
  }

  func testScullTwoProcessesAtOnce() {
    let script = """
      import os, sys
      path, tag, base = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
      fd = os.open(path, os.O_RDWR)
      for i in range(200):
          block = tag * 1000
          done = 0
          while done < len(block):
              done += os.pwrite(fd, block[done:], base + i * 1000 + done)
          os.pread(fd, 1000, (i * 7919) % 400000)
      print("done")
      """
    let path = "\(dev)/scull1"
    XCTAssertEqual(sh("printf '' > \(shq(path))").status, 0)
    do {
      let a = try Child(which("python3")!, ["-c", script, path, "a", "0"])
      let b = try Child(which("python3")!, ["-c", script, path, "b", "200000"])
      XCTAssertEqual(a.wait(timeout: 60), 0, a.stderr)
      XCTAssertEqual(b.wait(timeout: 60), 0, b.stderr)
    } catch {
      XCTFail("\(error)")
    }
    let check = python(
      """
      import os, sys
      fd = os.open(sys.argv[1], os.O_RDONLY)
      data = b""
      while True:
          c = os.read(fd, 65536)
          if not c: break
          data += c
      print(len(data), data[:200000] == b"a" * 200000, data[200000:] == b"b" * 200000)
      """, [path])
    XCTAssertEqual(check.out, "400000 True True", "\(check)")
  }

  // MARK: - log

  /// A reader of the log device in its own process: it opens, says "open" on
  /// stdout's file, then reads `records` records and prints them.
  func startLogReader(records: Int = 1, flags: String = "os.O_RDONLY") throws -> Child {
    let child = try Child(
      which("python3")!,
      [
        "-u", "-c",
        """
        import os, sys
        fd = os.open(sys.argv[1], \(flags))
        print("open", flush=True)
        for _ in range(int(sys.argv[2])):
            print(os.read(fd, 4096).decode().strip(), flush=True)
        """,
        "\(dev)/log", "\(records)",
      ])
    let deadline = Date().addingTimeInterval(10)
    while !child.stdout.hasPrefix("open\n"), Date() < deadline, !child.hasExited { usleep(10_000) }
    XCTAssertTrue(child.stdout.hasPrefix("open\n"), "reader: \(child.stderr)")
    return child
  }

  func testLogBlockingReaderWokenByWriter() throws {
    XCTAssertEqual(sh("echo before > \(shq(dev))/log").status, 0)
    let reader = try startLogReader(records: 2)
    usleep(300_000)
    XCTAssertNil(reader.wait(timeout: 0), "the reader blocks: nothing written since it opened")
    XCTAssertEqual(reader.stdout, "open\n")
    XCTAssertEqual(sh("echo first > \(shq(dev))/log; echo second > \(shq(dev))/log").status, 0)
    XCTAssertEqual(reader.wait(timeout: 10), 0, reader.stderr)
    XCTAssertEqual(reader.stdout, "open\nfirst\nsecond\n", "one record per read")
  }

  func testLogTwoReadersBothWake() throws {
    let a = try startLogReader()
    let b = try startLogReader()
    XCTAssertEqual(sh("echo news > \(shq(dev))/log").status, 0)
    XCTAssertEqual(a.wait(timeout: 10), 0)
    XCTAssertEqual(b.wait(timeout: 10), 0)
    XCTAssertEqual(a.stdout, "open\nnews\n")
    XCTAssertEqual(b.stdout, "open\nnews\n")
  }

  func testManyBlockedReadersDoNotHangTheMount() throws {
    // Each sleeping reader holds one of the daemon's threads; past the VFS's
    // bound (WaitQueue.sleeperLimit) a reader gets EAGAIN instead, so threads
    // remain for the writer and everyone else.
    var readers: [Child] = []
    defer {
      for r in readers { r.signal(SIGKILL) }
      for r in readers { r.wait(timeout: 5) }
    }
    for _ in 0..<24 {
      readers.append(try Child(which("cat")!, ["\(dev)/log"]))
    }
    usleep(500_000)
    let start = Date()
    let ls = runCommand("ls", [dev], timeout: 10)
    XCTAssertEqual(ls.status, 0, "\(ls)")
    XCTAssertEqual(bash("echo hello > \(shq(dev))/log").status, 0)
    XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    // cat goes on reading after the record, so a woken reader is one that
    // printed it; a refused one has exited with EAGAIN's message.
    var woken = 0
    var refused = 0
    let deadline = Date().addingTimeInterval(10)
    repeat {
      woken = readers.filter { $0.stdout == "hello\n" }.count
      refused =
        readers.filter {
          $0.hasExited && $0.stderr.contains("Resource temporarily unavailable")
        }.count
      if woken + refused == readers.count { break }
      usleep(50_000)
    } while Date() < deadline
    XCTAssertEqual(woken + refused, readers.count, "each reader woke or was refused")
    XCTAssertGreaterThan(woken, 0)
    XCTAssertGreaterThan(refused, 0)
  }

  func testLogPollAndNonBlocking() {
    let r = python(
      """
      import os, sys, select, time, errno
      path = sys.argv[1]
      fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
      out = []
      try:
          os.read(fd, 100)
      except OSError as e:
          out.append(errno.errorcode[e.errno])
      p = select.poll()
      p.register(fd, select.POLLIN)
      out.append(str(p.poll(200)))
      if os.fork() == 0:
          time.sleep(0.3)
          w = os.open(path, os.O_WRONLY)
          os.write(w, b"ping")
          os._exit(0)
      t = time.time()
      ev = p.poll(10000)
      out.append(str(ev == [(fd, select.POLLIN)]))
      out.append(str(0.2 < time.time() - t < 5))
      r, _, _ = select.select([fd], [], [], 0)
      out.append(str(r == [fd]))
      out.append(os.read(fd, 100).decode())
      out.append(str(p.poll(0)))
      os.wait()
      print(" ".join(out))
      """, ["\(dev)/log"])
    XCTAssertEqual(r.out, "EAGAIN [] True True True ping []", "\(r)")
  }

  func testLogBlockedReadEndsOnASignal() throws {
    // A handler that raises: Python gives up the read (it retries after a
    // handler that returns, as PEP 475 says), so this shows EINTR came back.
    let r = python(
      """
      import os, sys, signal, time
      class Stop(Exception): pass
      def handler(*a): raise Stop()
      if (pid := os.fork()) == 0:
          signal.signal(signal.SIGUSR1, handler)
          fd = os.open(sys.argv[1], os.O_RDONLY)
          try:
              os.read(fd, 100); os._exit(1)
          except Stop:
              os._exit(7)
      time.sleep(0.5)
      t = time.time()
      os.kill(pid, signal.SIGUSR1)
      _, status = os.waitpid(pid, 0)
      print(os.waitstatus_to_exitcode(status), time.time() - t < 3)
      """, ["\(dev)/log"])
    XCTAssertEqual(r.out, "7 True", "\(r)")
    // And a blocked cat dies of its signal at once.
    let start = Date()
    let cat = sh("timeout -s TERM 1 cat \(shq(dev))/log")
    XCTAssertEqual(cat.status, 124, "\(cat)")
    XCTAssertLessThan(Date().timeIntervalSince(start), 5)
  }

  func testLogRecordsAreWholeAndBounded() {
    let r = python(
      """
      import os, sys, errno
      p = sys.argv[1]
      fd = os.open(p, os.O_RDWR | os.O_NONBLOCK)
      out = []
      os.write(fd, b"x" * 4096)
      try:
          os.write(fd, b"y" * 4097)
      except OSError as e:
          out.append(errno.errorcode[e.errno])
      out.append(str(len(os.read(fd, 8192))))
      os.write(fd, b"0123456789")
      try:
          os.read(fd, 4)
      except OSError as e:
          out.append(errno.errorcode[e.errno])
      out.append(os.read(fd, 10).decode())
      try:
          os.lseek(fd, 0, os.SEEK_SET); out.append("seekable")
      except OSError as e:
          out.append(errno.errorcode[e.errno])
      print(" ".join(out))
      """, ["\(dev)/log"])
    XCTAssertEqual(r.out, "EINVAL 4096 EINVAL 0123456789 ESPIPE", "\(r)")
  }
}

/// An errno as a comparable value for `Result`.
struct DevErrno: Error, Equatable, CustomStringConvertible {
  let code: Int32
  init(_ code: Int32) { self.code = code }
  var description: String { errnoName(code) }
}
