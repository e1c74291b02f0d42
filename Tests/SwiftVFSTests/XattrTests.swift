import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// Extended attributes through the VFS, with tmpfs's answers (checked on /dev/shm).
final class XattrTests: MemfsTestCase {
  func testTheThreeNamespacesStoreValues() throws {
    let f = try h.file(root, "f")
    for name in ["user.a", "trusted.b", "security.c"] {
      try vfs.setxattr(f, name, Array(name.utf8), flags: [], cred: .root)
    }
    try vfs.setxattr(f, "user.empty", [], flags: [], cred: .root)
    XCTAssertEqual(try vfs.getxattr(f, "user.a", cred: .root), Array("user.a".utf8))
    XCTAssertEqual(try vfs.getxattr(f, "trusted.b", cred: .root), Array("trusted.b".utf8))
    XCTAssertEqual(try vfs.getxattr(f, "security.c", cred: .root), Array("security.c".utf8))
    XCTAssertEqual(try vfs.getxattr(f, "user.empty", cred: .root), [])
    XCTAssertEqual(
      try vfs.listxattr(f, cred: .root), ["security.c", "trusted.b", "user.a", "user.empty"])
    try vfs.setxattr(f, "user.a", [1, 2], flags: [], cred: .root)
    XCTAssertEqual(try vfs.getxattr(f, "user.a", cred: .root), [1, 2], "replaced")
    try vfs.removexattr(f, "user.a", cred: .root)
    XCTAssertEqual(vtErrno { _ = try self.vfs.getxattr(f, "user.a", cred: .root) }, .ENODATA)
    XCTAssertEqual(try vfs.listxattr(f, cred: .root).count, 3)
    // Directories take user.* too.
    let d = try h.dir(root, "d")
    try vfs.setxattr(d, "user.x", [1], flags: [], cred: vtUser)
    XCTAssertEqual(try vfs.getxattr(d, "user.x", cred: vtUser), [1])
  }

  func testUnknownNamespacesAreEOPNOTSUPP() throws {
    let f = try h.file(root, "f")
    for name in ["foo", "other.x", "USER.x"] {  // system.posix_acl_*: PosixAclTests
      XCTAssertEqual(
        vtErrno { try self.vfs.setxattr(f, name, [1], flags: [], cred: .root) }, .EOPNOTSUPP, name)
      XCTAssertEqual(vtErrno { _ = try self.vfs.getxattr(f, name, cred: .root) }, .EOPNOTSUPP, name)
    }
  }

  /// A prefix with nothing after it is EINVAL in the kernel (xattr_resolve_name).
  func testANameThatIsOnlyAPrefixIsEINVAL() throws {
    let f = try h.file(root, "f")
    XCTAssertEqual(
      vtErrno { try self.vfs.setxattr(f, "user.", [1], flags: [], cred: .root) }, .EINVAL)
    XCTAssertEqual(vtErrno { _ = try self.vfs.getxattr(f, "user.", cred: .root) }, .EINVAL)
  }

  func testCreateAndReplaceFlags() throws {
    let f = try h.file(root, "f")
    XCTAssertEqual(
      vtErrno { try self.vfs.setxattr(f, "user.a", [1], flags: .replace, cred: .root) }, .ENODATA)
    try vfs.setxattr(f, "user.a", [1], flags: .create, cred: .root)
    XCTAssertEqual(
      vtErrno { try self.vfs.setxattr(f, "user.a", [2], flags: .create, cred: .root) }, .EEXIST)
    try vfs.setxattr(f, "user.a", [3], flags: .replace, cred: .root)
    XCTAssertEqual(try vfs.getxattr(f, "user.a", cred: .root), [3])
    XCTAssertEqual(
      vtErrno {
        try self.vfs.setxattr(f, "user.b", [1], flags: XattrFlags(rawValue: 4), cred: .root)
      }, .EINVAL)
    XCTAssertEqual(vtErrno { try self.vfs.removexattr(f, "user.zz", cred: .root) }, .ENODATA)
    XCTAssertEqual(vtErrno { _ = try self.vfs.getxattr(f, "user.zz", cred: .root) }, .ENODATA)
  }

  func testSizeLimits() throws {
    let f = try h.file(root, "f")
    let max = [UInt8](repeating: 1, count: 65536)
    XCTAssertNil(vtErrno { try self.vfs.setxattr(f, "user.max", max, flags: [], cred: .root) })
    XCTAssertEqual(
      vtErrno { try self.vfs.setxattr(f, "user.big", max + [1], flags: [], cred: .root) }, .E2BIG)
    let name255 = "user." + String(repeating: "n", count: 250)
    XCTAssertNil(vtErrno { try self.vfs.setxattr(f, name255, [1], flags: [], cred: .root) })
    XCTAssertEqual(try vfs.getxattr(f, name255, cred: .root), [1])
    let name256 = name255 + "n"
    XCTAssertEqual(
      vtErrno { try self.vfs.setxattr(f, name256, [1], flags: [], cred: .root) }, .ERANGE)
    XCTAssertEqual(vtErrno { _ = try self.vfs.getxattr(f, name256, cred: .root) }, .ERANGE)
    XCTAssertEqual(vtErrno { try self.vfs.removexattr(f, name256, cred: .root) }, .ERANGE)
  }

  func testPerInodeTotalIsBounded() throws {
    let f = try h.file(root, "f")
    let value = [UInt8](repeating: 2, count: 65536)
    var stored = 0
    var failure: Errno?
    for i in 0..<40 {
      if let e = vtErrno({ try self.vfs.setxattr(f, "user.v\(i)", value, flags: [], cred: .root) })
      {
        failure = e
        break
      }
      stored += 1
    }
    XCTAssertEqual(failure, .ENOSPC)
    XCTAssertEqual(stored, 15, "1 MiB per inode: fifteen 64 KiB values and their names fit")
    XCTAssertNil(
      vtErrno { try self.vfs.setxattr(f, "user.v0", [1], flags: [], cred: .root) },
      "shrinking a value always works")
  }

  func testTrustedIsRootsAlone() throws {
    let f = try h.file(root, "f")
    try vfs.setxattr(f, "trusted.t", [1], flags: [], cred: .root)
    try vfs.setxattr(f, "user.u", [2], flags: [], cred: .root)
    XCTAssertEqual(
      vtErrno { try self.vfs.setxattr(f, "trusted.x", [1], flags: [], cred: vtUser) }, .EPERM)
    XCTAssertEqual(vtErrno { _ = try self.vfs.getxattr(f, "trusted.t", cred: vtUser) }, .ENODATA)
    XCTAssertEqual(vtErrno { try self.vfs.removexattr(f, "trusted.t", cred: vtUser) }, .EPERM)
    XCTAssertEqual(try vfs.listxattr(f, cred: vtUser), ["user.u"])
    XCTAssertEqual(try vfs.listxattr(f, cred: .root), ["trusted.t", "user.u"])
    XCTAssertEqual(try vfs.getxattr(f, "trusted.t", cred: .root), [1])
  }

  func testUserXattrsOnlyOnFilesAndDirectories() throws {
    let s = try h.symlink(root, "s", "target")
    let p = try vfs.mknod(root, "p", mode: FileType.fifo.rawValue | 0o644, rdev: .zero, cred: .root)
    vfs.forget(p.ino, count: 1)
    for node in [s, p] {
      XCTAssertEqual(
        vtErrno { try self.vfs.setxattr(node, "user.a", [1], flags: [], cred: .root) }, .EPERM)
      XCTAssertEqual(vtErrno { _ = try self.vfs.getxattr(node, "user.a", cred: .root) }, .ENODATA)
      XCTAssertEqual(vtErrno { try self.vfs.removexattr(node, "user.a", cred: .root) }, .EPERM)
    }
    // Other namespaces are fine on a symlink.
    XCTAssertNil(vtErrno { try self.vfs.setxattr(s, "trusted.a", [1], flags: [], cred: .root) })
    XCTAssertEqual(try vfs.getxattr(s, "trusted.a", cred: .root), [1])
  }

  /// Like xattr_permission(), on the VFS type: a char node a driver serves
  /// looks regular to the kernel, which then lets user.* through to us.
  func testUserXattrsRefusedOnDeviceNodesAndSockets() throws {
    var nodes: [Inode] = []
    for (name, type, rdev) in [
      ("c", FileType.characterDevice, try DevT(major: 1, minor: 3)),
      ("b", .blockDevice, try DevT(major: 8, minor: 0)), ("s", .socket, DevT.zero),
    ] {
      let node = try vfs.mknod(
        root, try FileName(name), mode: type.rawValue | 0o600, rdev: rdev, cred: .root)
      vfs.forget(node.ino, count: 1)
      nodes.append(node)
    }
    for node in nodes {
      XCTAssertEqual(
        vtErrno { try self.vfs.setxattr(node, "user.x", [1], flags: [], cred: .root) }, .EPERM)
      XCTAssertEqual(vtErrno { _ = try self.vfs.getxattr(node, "user.x", cred: .root) }, .ENODATA)
      XCTAssertEqual(vtErrno { try self.vfs.removexattr(node, "user.x", cred: .root) }, .EPERM)
      // No made-up name either: the number is in /proc/vfs/devnodes.
      XCTAssertEqual(
        vtErrno { _ = try self.vfs.getxattr(node, "user.dev.rdev", cred: .root) }, .ENODATA)
      XCTAssertEqual(try vfs.listxattr(node, cred: .root), [])
      // Other namespaces stay open to root.
      XCTAssertNil(
        vtErrno { try self.vfs.setxattr(node, "trusted.t", [2], flags: [], cred: .root) })
      XCTAssertEqual(try vfs.listxattr(node, cred: .root), ["trusted.t"])
    }
  }

  func testXattrsOnAReadOnlyMountAreEROFS() throws {
    let ro = try MemfsHarness(options: "ro")
    XCTAssertEqual(
      vtErrno { try ro.vfs.setxattr(ro.root, "user.a", [1], flags: [], cred: .root) }, .EROFS)
    XCTAssertEqual(vtErrno { try ro.vfs.removexattr(ro.root, "user.a", cred: .root) }, .EROFS)
    XCTAssertEqual(vtErrno { _ = try ro.vfs.getxattr(ro.root, "user.a", cred: .root) }, .ENODATA)
  }
}
