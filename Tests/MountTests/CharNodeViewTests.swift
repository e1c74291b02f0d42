import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Char nodes tell the truth wherever it costs nothing (DESIGN.md, "Character
/// devices"): a char node whose number no Swift driver serves is shown as what
/// it is, side by side with a tmpfs; a node a driver serves keeps the
/// regular-file view so that open() reaches the driver. And user.* xattrs
/// exist only on regular files and directories, as the kernel's
/// xattr_permission() says.
///
/// The tmpfs twin is mounted `nodev`, as the FUSE mount is, so opening a node
/// fails the same way on both (EACCES from may_open()).
final class CharNodeViewTests: ConformanceTestCase {
  override class var tmpfsOptions: [String] { ["nodev"] }

  /// Numbers no Swift driver serves: 1:2 (/dev/kmem in Linux; the mem
  /// driver here has 3, 5, 7, 8, 9 only) and 250:0 (no driver at all).
  static let driverless: [(String, UInt32, UInt32)] = [("kmem", 1, 2), ("nothing", 250, 0)]

  /// d_type of each entry of `dir`, as readdir(3) gives it.
  func dTypes(_ dir: String) -> [String: String] {
    guard let d = opendir(dir) else { return [:] }
    defer { closedir(d) }
    var out: [String: String] = [:]
    while let e = readdir(d) {
      let name = withUnsafePointer(to: e.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      let names: [UInt8: String] = [1: "fifo", 2: "chr", 4: "dir", 6: "blk", 8: "reg", 12: "sock"]
      out[name] = names[e.pointee.d_type] ?? "unknown(\(e.pointee.d_type))"
    }
    return out
  }

  func testDriverlessCharNodesAreShownAsTheyAre() {
    sideBySide { t in
      for (name, major, minor) in Self.driverless {
        t.check("mknod \(name)", t.mknod(name, S_IFCHR | 0o644, makeDev(major, minor)), "OK")
        let st = t.lstat(name)
        t.check("\(name) type", st.map { typeName($0.st_mode) } ?? "", "chr")
        t.check(
          "\(name) rdev", st.map { "\(devMajor($0.st_rdev)):\(devMinor($0.st_rdev))" } ?? "",
          "\(major):\(minor)")
        // stat(1) reads through statx(2).
        let statx = runCommand("stat", ["-c", "%F %t %T", t.p(name)])
        t.check(
          "\(name) stat(1)", statx.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
          "character special file \(String(major, radix: 16)) \(String(minor, radix: 16))")
        let ls = sh("ls -l \(shq(t.p(name))) | awk '{print $1, $5, $6}'")
        t.check("\(name) ls -l", ls.stdout, "crw-r--r-- \(major), \(minor)\n")
        t.check("\(name) d_type", dTypes(t.root)[name] ?? "missing", "chr")
        // Refused by the kernel on a nodev mount before any driver is asked.
        t.check("open \(name)", t.open(name, O_RDONLY), "EACCES")
        t.check("open \(name) for writing", t.open(name, O_WRONLY), "EACCES")
      }
      let find = sh("cd \(shq(t.root)) && find . -type c | sort")
      t.check("find -type c", find.stdout, "./kmem\n./nothing\n")
      // chmod, chown and a rename work on them as on any node.
      t.check("chmod", t.chmod("kmem", 0o600), "OK")
      t.check("rename", t.rename("kmem", "kmem2"), "OK")
      t.check("after rename", t.lstat("kmem2").map { typeName($0.st_mode) } ?? "", "chr")
    }
  }

  /// The cost of the rule: a node a Swift driver serves looks like a regular
  /// file (rdev 0:0) to stat, ls, find and readdir, and it opens.
  func testDriverBackedNodeKeepsTheRegularView() {
    let dir = vfs.path + "/t"
    XCTAssertEqual(mknod(dir + "/z", S_IFCHR | 0o644, makeDev(1, 5)), 0)
    var st = stat()
    XCTAssertEqual(lstat(dir + "/z", &st), 0)
    XCTAssertEqual(typeName(st.st_mode), "reg")
    XCTAssertEqual(st.st_rdev, 0)
    XCTAssertEqual(dTypes(dir)["z"], "reg")
    XCTAssertEqual(sh("cd \(shq(dir)) && find . -type c").stdout, "")
    XCTAssertEqual(
      runCommand("stat", ["-c", "%F", dir + "/z"]).stdout, "regular empty file\n")
    // It reaches the zero driver.
    let fd = open(dir + "/z", O_RDONLY)
    XCTAssertGreaterThanOrEqual(fd, 0, errnoName(errno))
    var buf = [UInt8](repeating: 0xAA, count: 4096)
    XCTAssertEqual(read(fd, &buf, buf.count), 4096)
    XCTAssertEqual(Set(buf), [0])
    close(fd)
    // Its number is in /proc/vfs/devnodes, with the driver that serves it.
    let table =
      (try? String(contentsOfFile: vfs.path + "/proc/vfs/devnodes", encoding: .utf8)) ?? ""
    let row = table.split(separator: "\n").first { $0.hasPrefix("/t/z ") }
    XCTAssertEqual(row?.split(separator: " ").map(String.init), ["/t/z", "c", "1:5", "mem"])
  }

  /// /proc/vfs/devnodes lists every char and block node with its number and
  /// whether a driver backs it ("-": none).
  func testDevnodesListsEveryNode() {
    let dir = vfs.path + "/t"
    XCTAssertEqual(mknod(dir + "/kmem", S_IFCHR | 0o644, makeDev(1, 2)), 0)
    XCTAssertEqual(mknod(dir + "/sda", S_IFBLK | 0o644, makeDev(8, 0)), 0)
    XCTAssertEqual(mknod(dir + "/null", S_IFCHR | 0o644, makeDev(1, 3)), 0)
    XCTAssertEqual(mkfifo(dir + "/p", 0o644), 0)
    let table =
      (try? String(contentsOfFile: vfs.path + "/proc/vfs/devnodes", encoding: .utf8)) ?? ""
    let rows = table.split(separator: "\n").filter { $0.hasPrefix("/t/") }.map {
      $0.split(separator: " ").joined(separator: " ")
    }
    XCTAssertEqual(rows, ["/t/kmem c 1:2 -", "/t/sda b 8:0 -", "/t/null c 1:3 mem"], table)
    XCTAssertTrue(table.contains("/dev/null"), table)
  }

  // MARK: - user.* xattrs

  func testUserXattrsOnlyOnRegularFilesAndDirectories() {
    sideBySide { t in
      t.check("mkfifo", t.mknod("fifo", S_IFIFO | 0o644), "OK")
      t.check("socket", t.mknod("sock", S_IFSOCK | 0o644), "OK")
      t.check("char node", t.mknod("kmem", S_IFCHR | 0o644, makeDev(1, 2)), "OK")
      // A node a driver serves: regular at the boundary, still refused.
      t.check("driver-backed char node", t.mknod("zero", S_IFCHR | 0o644, makeDev(1, 5)), "OK")
      t.check("block node", t.mknod("sda", S_IFBLK | 0o644, makeDev(8, 0)), "OK")
      for name in ["fifo", "sock", "kmem", "zero", "sda"] {
        t.check("setfattr user.x on \(name)", t.setxattr(name, "user.x", "1"), "EPERM")
        t.check("getfattr user.x on \(name)", t.getxattr(name, "user.x"), "ENODATA")
        t.check("remove user.x on \(name)", t.removexattr(name, "user.x"), "EPERM")
        t.check("no user.dev.rdev on \(name)", t.getxattr(name, "user.dev.rdev"), "ENODATA")
        t.check("listxattr on \(name)", t.listxattr(name), "")
        let shell = runCommand("setfattr", ["-n", "user.x", "-v", "1", t.p(name)])
        t.check("setfattr(1) on \(name) fails", shell.status != 0, true)
        t.check(
          "setfattr(1) on \(name) says why",
          shell.stderr.contains("Operation not permitted"), true)
      }
      // trusted.* is root's, on any type.
      t.check("trusted.x on a fifo", t.setxattr("fifo", "trusted.x", "1"), "OK")
      t.check("trusted.x read back", t.getxattr("fifo", "trusted.x"), "1")
      t.check("fifo lists trusted.x", t.listxattr("fifo"), "trusted.x")
      t.check("file", t.put("f", "data"), "OK")
      t.check("dir", t.mkdir("d"), "OK")
      for name in ["f", "d"] {
        t.check("setfattr user.x on \(name)", t.setxattr(name, "user.x", "1"), "OK")
        t.check("getfattr user.x on \(name)", t.getxattr(name, "user.x"), "1")
        t.check("listxattr on \(name)", t.listxattr(name), "user.x")
        t.check("remove user.x on \(name)", t.removexattr(name, "user.x"), "OK")
      }
    }
  }

  /// The built-in nodes carry no made-up xattr any more.
  func testNoRdevXattrOnDev() {
    for name in ["null", "zero", "scull0", "log"] {
      var buf = [UInt8](repeating: 0, count: 64)
      XCTAssertEqual(Libc.getxattr(vfs.path + "/dev/" + name, "user.dev.rdev", &buf, buf.count), -1)
      XCTAssertEqual(errnoName(errno), "ENODATA", name)
      var list = [CChar](repeating: 0, count: 256)
      XCTAssertEqual(Libc.listxattr(vfs.path + "/dev/" + name, &list, list.count), 0, name)
    }
  }
}

/// A driver registered or unregistered while the mount is live: the nodes
/// that carry its number switch view, although the kernel was allowed to
/// cache them for an hour (the default timeouts): the bridge has told it to
/// drop their entries (fuse_lowlevel_notify_inval_entry).
///
/// vfsmount offers no way to load a driver from outside its process, so this
/// test mounts a VFS in its own process, as a program embedding SwiftVFS
/// does, and registers a driver through the public `ChrdevRegistry` API.
/// Only this test's thread acts as a client, and it closes every file before
/// the unmount, so the server can't be waited on by its own process.
final class CharNodeLiveSwitchTests: XCTestCase {
  struct Hello: FileOperations {
    func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
      throws(Errno) -> Int
    {
      let text = Array("hello\n".utf8)
      guard offset < text.count else { return 0 }
      let n = min(buffer.count, text.count - Int(offset))
      buffer.copyBytes(from: text[Int(offset)..<Int(offset) + n])
      return n
    }
  }

  var vfs: VFS!
  var mount: InProcessMount?
  var mountPoint: String { mount?.path ?? "" }

  override func setUpWithError() throws {
    try super.setUpWithError()
    guard access("/dev/fuse", F_OK) == 0, getuid() == 0 else {
      if MountTestCase.isCI { XCTFail("no /dev/fuse or not root") }
      throw XCTSkip("needs /dev/fuse and root")
    }
    vfs = try VFS.standard(options: MountOptions())
    mount = try InProcessMount(vfs: vfs, name: "charnode-live")
  }

  override func tearDownWithError() throws {
    if let failure = mount?.stop() { XCTFail(failure) }
    mount = nil
    try super.tearDownWithError()
  }

  func type(_ path: String) -> String {
    var st = stat()
    guard lstat(path, &st) == 0 else { return errnoName(errno) }
    return "\(typeName(st.st_mode)) \(devMajor(st.st_rdev)):\(devMinor(st.st_rdev))"
  }

  func dType(_ dir: String, _ name: String) -> UInt8? {
    guard let d = opendir(dir) else { return nil }
    defer { closedir(d) }
    while let e = readdir(d) {
      let entry = withUnsafePointer(to: e.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if entry == name { return e.pointee.d_type }
    }
    return nil
  }

  /// Waits (up to 20 s) for the bridge's notification thread to have told the
  /// kernel: the view has no other way to change within the hour's timeout.
  func eventually(_ path: String, is expected: String) -> String {
    var seen = type(path)
    for _ in 0..<2000 where seen != expected {
      usleep(10_000)
      seen = type(path)
    }
    return seen
  }

  func readAll(_ path: String) -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return errnoName(errno) }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 64)
    let n = read(fd, &buf, buf.count)
    return n < 0 ? errnoName(errno) : String(decoding: buf.prefix(n), as: UTF8.self)
  }

  func testRegisterAndUnregisterSwitchTheView() throws {
    let dev = mountPoint + "/dev"
    let node = dev + "/hello"
    let other = mountPoint + "/hello2"  // a second node, on another superblock
    XCTAssertEqual(mknod(node, S_IFCHR | 0o644, makeDev(240, 0)), 0, errnoName(errno))
    XCTAssertEqual(mknod(other, S_IFCHR | 0o644, makeDev(240, 1)), 0, errnoName(errno))
    XCTAssertEqual(link(node, dev + "/hello-link"), 0, errnoName(errno))
    // No driver: a char node, cached by the kernel, that it won't open.
    for (path, number) in [(node, "240:0"), (other, "240:1"), (dev + "/hello-link", "240:0")] {
      XCTAssertEqual(type(path), "chr " + number, path)
      XCTAssertEqual(readAll(path), "EACCES", path)
    }
    XCTAssertEqual(dType(dev, "hello"), 2)  // DT_CHR

    let major = try vfs.chrdevs.registerChrdev(major: 240, name: "hello", fileOps: Hello())
    XCTAssertEqual(major, 240)
    XCTAssertEqual(eventually(node, is: "reg 0:0"), "reg 0:0")
    XCTAssertEqual(eventually(other, is: "reg 0:0"), "reg 0:0")
    XCTAssertEqual(eventually(dev + "/hello-link", is: "reg 0:0"), "reg 0:0")
    XCTAssertEqual(dType(dev, "hello"), 8)  // DT_REG
    XCTAssertEqual(readAll(node), "hello\n")
    XCTAssertEqual(readAll(other), "hello\n")

    let fd = open(node, O_RDONLY)
    XCTAssertGreaterThanOrEqual(fd, 0)
    defer { close(fd) }
    vfs.chrdevs.unregisterChrdev(major: 240)
    XCTAssertEqual(eventually(node, is: "chr 240:0"), "chr 240:0")
    // The new lookup made the kernel mark the old inode bad (fuse_iget() on
    // a type change): a file opened through the old view now gets EIO.
    var byte: UInt8 = 0
    XCTAssertEqual(read(fd, &byte, 1), -1)
    XCTAssertEqual(errnoName(errno), "EIO")
    XCTAssertEqual(eventually(other, is: "chr 240:1"), "chr 240:1")
    XCTAssertEqual(eventually(dev + "/hello-link", is: "chr 240:0"), "chr 240:0")
    XCTAssertEqual(dType(dev, "hello"), 2)
    XCTAssertEqual(readAll(node), "EACCES")

    // A built-in driver can go too: /dev/zero then shows as 1:5.
    XCTAssertEqual(type(dev + "/zero"), "reg 0:0")
    vfs.chrdevs.remove(base: try DevT(major: 1, minor: 5))
    XCTAssertEqual(eventually(dev + "/zero", is: "chr 1:5"), "chr 1:5")
    XCTAssertEqual(readAll(dev + "/null"), "")
  }
}
