import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// Writes to the controls: what they take, and EINVAL / EACCES / EPERM for
/// everything else, with the file system working on after each.
final class ProcControlTests: XCTestCase {
  func testBadWritesAreEINVALAndChangeNothing() throws {
    let h = try ProcHarness()
    let drop = try h.inode("proc/sys/vm/drop_caches")
    let max = try h.inode("proc/sys/fs/dcache-max")
    let reset = try h.inode("proc/vfs/reset")
    let bad: [String] = [
      "", "\n", "0", "5", "-1", "+9", "abc", "3x", "0x3", "3 3", "1.5", " ", "٣",
      "99999999999999999999999999", String(repeating: "1", count: 65),
      String(repeating: " ", count: 64) + "2",
    ]
    for text in bad {
      assertProcErrno(.EINVAL, try h.write(drop, text), "drop_caches \(text.debugDescription)")
      assertProcErrno(.EINVAL, try h.write(reset, text == "1" ? "2" : text), "reset")
    }
    for text in ["0", "-5", "2147483648", "1e3", "abc", String(repeating: "9", count: 40)] {
      assertProcErrno(.EINVAL, try h.write(max, text), "dcache-max \(text)")
    }
    // Bytes that are not text, a NUL, a huge write, a write past offset 0.
    assertProcErrno(.EINVAL, try h.write(drop, [0x33, 0x00]))
    assertProcErrno(.EINVAL, try h.write(drop, [0xff, 0xfe]))
    assertProcErrno(.EINVAL, try h.write(drop, [UInt8](repeating: 0x33, count: 1 << 20)))
    assertProcErrno(.EINVAL, try h.write(drop, Array("3".utf8), at: 1))
    XCTAssertEqual(try h.read(max), "\(Dcache.defaultCapacity)\n")

    // Still working: the good values are taken, and the tree answers.
    try h.write(drop, "3\n")
    try h.write(drop, "  2\t\n")
    try h.write(max, "4096")
    XCTAssertEqual(try h.read(max), "4096\n")
    try h.write(max, "2147483647")
    try h.makeFile("after", "ok")
    XCTAssertEqual(try h.read("after"), "ok")
    XCTAssertNotNil(tabbedIntegers(try h.read("proc/sys/fs/dentry-state")))
  }

  func testPermissionsFollowTheMode() throws {
    let h = try ProcHarness()
    let user = Cred(uid: 1000, gid: 1000)
    func open(_ path: String, _ flags: Int32, _ cred: Cred = .root) throws {
      let (fh, _) = try h.vfs.open(try h.inode(path), flags: flags, cred: cred)
      h.vfs.release(fh)
    }
    // Read-only files can't be opened for writing, by root either (sysctl_perm).
    for path in ["proc/sys/fs/dentry-state", "proc/vfs/dcache", "proc/devices", "proc/vfs/trace"] {
      assertProcErrno(.EACCES, try open(path, O_WRONLY), path)
      assertProcErrno(.EACCES, try open(path, O_RDWR), path)
      XCTAssertNoThrow(try open(path, O_RDONLY, user), path)
    }
    // Write-only controls can't be read.
    for path in ["proc/sys/vm/drop_caches", "proc/vfs/reset"] {
      assertProcErrno(.EACCES, try open(path, O_RDONLY), path)
      assertProcErrno(.EACCES, try open(path, O_WRONLY, user), path)
      XCTAssertNoThrow(try open(path, O_WRONLY | O_TRUNC), path)
    }
    // dcache-max: 0644, root writes, others read.
    XCTAssertNoThrow(try open("proc/sys/fs/dcache-max", O_RDWR))
    XCTAssertNoThrow(try open("proc/sys/fs/dcache-max", O_RDONLY, user))
    assertProcErrno(.EACCES, try open("proc/sys/fs/dcache-max", O_WRONLY, user))

    // Nothing is made, removed, renamed or chmod'ed in /proc.
    let proc = try h.inode("proc")
    let vfsDir = try h.inode("proc/vfs")
    assertProcErrno(
      .EACCES, try h.vfs.create(proc, "x", mode: 0o644, flags: O_RDWR, cred: .root))
    assertProcErrno(.EPERM, try h.vfs.mkdir(proc, "x", mode: 0o755, cred: .root))
    assertProcErrno(.EPERM, try h.vfs.unlink(vfsDir, "dcache"))
    assertProcErrno(.EPERM, try h.vfs.rename(vfsDir, "dcache", vfsDir, "d2"))
    assertProcErrno(.EXDEV, try h.vfs.rename(vfsDir, "dcache", h.vfs.root, "d2"))
    assertProcErrno(
      .EPERM, try h.vfs.setattr(try h.inode("proc/vfs/dcache"), SetAttr(mode: 0o666), cred: .root))
    assertProcErrno(.EPERM, try h.vfs.setattr(proc, SetAttr(uid: 5), cred: .root))
    assertProcErrno(.EBUSY, try h.vfs.rmdir(h.vfs.root, "proc"))
    // A truncate of a control (what `echo 3 >` sends without atomic O_TRUNC) is taken.
    XCTAssertNoThrow(
      try h.vfs.setattr(try h.inode("proc/sys/vm/drop_caches"), SetAttr(size: 0), cred: .root))
  }

  func testWritesToReadOnlyFileHandlesAreEBADF() throws {
    let h = try ProcHarness()
    let (fh, file) = try h.vfs.open(
      try h.inode("proc/sys/fs/dcache-max"), flags: O_RDONLY, cred: .root)
    defer { h.vfs.release(fh) }
    assertProcErrno(
      .EBADF,
      try Array("5".utf8).withUnsafeBytes { b throws(Errno) in try h.vfs.write(file, from: b, at: 0)
      })
  }

  func testParsing() throws {
    XCTAssertEqual(try ProcControl.integer("42", in: 1...100), 42)
    XCTAssertEqual(try ProcControl.integer("+7", in: 1...100), 7)
    XCTAssertEqual(try ProcControl.integer("-3", in: -5...0), -3)
    assertProcErrno(.EINVAL, try ProcControl.integer("101", in: 1...100))
    assertProcErrno(.EINVAL, try ProcControl.integer("-", in: -5...0))
    assertProcErrno(.EINVAL, try ProcControl.integer("9223372036854775808", in: 1...Int.max))
    XCTAssertEqual(" \t3\r\n".trimmingBlanks, "3")
  }
}
