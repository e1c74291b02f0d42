import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// The ACL xattr format and its rules (VFS/PosixAcl.swift), without a mount:
/// the parser against values the kernel accepts and refuses, and the VFS
/// keeping ACL and mode in step on memfs.
final class PosixAclTests: MemfsTestCase {
  typealias E = PosixAcl.Entry
  let U = PosixAcl.undefinedID

  /// Packs entries as posix_acl_xattr_header + entries, little-endian.
  func xattr(_ entries: [(UInt16, UInt16, UInt32)], version: UInt32 = 2) -> [UInt8] {
    var out: [UInt8] = withUnsafeBytes(of: version.littleEndian, Array.init)
    for (tag, perm, id) in entries {
      out += withUnsafeBytes(of: tag.littleEndian, Array.init)
      out += withUnsafeBytes(of: perm.littleEndian, Array.init)
      out += withUnsafeBytes(of: id.littleEndian, Array.init)
    }
    return out
  }

  var named: [(UInt16, UInt16, UInt32)] {
    [(1, 6, U), (2, 6, 1000), (4, 4, U), (0x10, 6, U), (0x20, 4, U)]
  }

  func parseError(_ value: [UInt8]) -> Errno? {
    do {
      _ = try PosixAcl.parseValid(xattr: value)
      return nil
    } catch { return error }
  }

  // MARK: - The format

  func testParsesWhatTheKernelWrites() throws {
    // getxattr of `setfacl -m u:1000:rw` on a tmpfs, byte for byte.
    let hex =
      "0200000001000600ffffffff02000600e803000004000400ffffffff10000600ffffffff20000400ffffffff"
    let bytes = stride(from: 0, to: hex.count, by: 2).map {
      UInt8(hex.dropFirst($0).prefix(2), radix: 16)!
    }
    let acl = try XCTUnwrap(PosixAcl.parseValid(xattr: bytes))
    XCTAssertEqual(
      acl.entries,
      [E(.userObj, 6), E(.user, 6, id: 1000), E(.groupObj, 4), E(.mask, 6), E(.other, 4)])
    XCTAssertEqual(acl.xattr, bytes, "written back the same")
    XCTAssertEqual(acl.description, "user::rw-,user:1000:rw-,group::r--,mask::rw-,other::r--")
  }

  func testNoEntriesMeansNoAcl() throws {
    XCTAssertNil(try PosixAcl.parseValid(xattr: []))
    XCTAssertNil(try PosixAcl.parseValid(xattr: xattr([])), "a header alone")
  }

  /// posix_acl_from_xattr() and posix_acl_valid(), case by case.
  func testRefusesWhatTheKernelRefuses() {
    let cases: [(String, [UInt8], Errno)] = [
      ("wrong version", xattr(named, version: 1), .EOPNOTSUPP),
      ("bad tag", xattr([(1, 6, U), (4, 4, U), (0x40, 4, U)]), .EINVAL),
      ("tag 0", xattr([(0, 6, U), (1, 6, U), (4, 4, U), (0x20, 4, U)]), .EINVAL),
      ("perm bit 8", xattr([(1, 0o17, U), (4, 4, U), (0x20, 4, U)]), .EINVAL),
      ("perm high bits", xattr([(1, 6, U), (4, 0x8004, U), (0x20, 4, U)]), .EINVAL),
      ("GROUP_OBJ first", xattr([(4, 4, U), (1, 6, U), (0x20, 4, U)]), .EINVAL),
      ("OTHER before GROUP_OBJ", xattr([(1, 6, U), (0x20, 4, U), (4, 4, U)]), .EINVAL),
      ("two USER_OBJ", xattr([(1, 6, U), (1, 6, U), (4, 4, U), (0x20, 4, U)]), .EINVAL),
      ("two OTHER", xattr([(1, 6, U), (4, 4, U), (0x20, 4, U), (0x20, 4, U)]), .EINVAL),
      (
        "USER after GROUP_OBJ",
        xattr([(1, 6, U), (4, 4, U), (2, 6, 7), (0x10, 6, U), (0x20, 4, U)]), .EINVAL
      ),
      ("MASK after OTHER", xattr([(1, 6, U), (4, 4, U), (0x20, 4, U), (0x10, 6, U)]), .EINVAL),
      ("named without MASK", xattr([(1, 6, U), (2, 6, 1000), (4, 4, U), (0x20, 4, U)]), .EINVAL),
      (
        "named group without MASK", xattr([(1, 6, U), (4, 4, U), (8, 4, 5), (0x20, 4, U)]), .EINVAL
      ),
      ("no USER_OBJ", xattr([(4, 4, U), (0x20, 4, U)]), .EINVAL),
      ("no GROUP_OBJ", xattr([(1, 6, U), (0x20, 4, U)]), .EINVAL),
      ("no OTHER", xattr([(1, 6, U), (4, 4, U)]), .EINVAL),
      ("MASK but no OTHER", xattr([(1, 6, U), (4, 4, U), (0x10, 4, U)]), .EINVAL),
      (
        "named user -1", xattr([(1, 6, U), (2, 6, U), (4, 4, U), (0x10, 6, U), (0x20, 4, U)]),
        .EINVAL
      ),
      ("truncated entry", Array(xattr(named).dropLast(3)), .EINVAL),
      ("one extra byte", xattr(named) + [0], .EINVAL),
      ("short header", [2, 0], .EINVAL),
    ]
    for (name, value, errno) in cases {
      XCTAssertEqual(parseError(value), errno, name)
    }
  }

  /// The kernel does not sort or dedupe named entries: neither do we.
  func testAcceptsWhatTheKernelAccepts() throws {
    let unsorted = xattr([
      (1, 6, U), (2, 4, 1001), (2, 6, 1000), (4, 4, U), (0x10, 6, U), (0x20, 0, U),
    ])
    XCTAssertEqual(try PosixAcl.parseValid(xattr: unsorted)?.xattr, unsorted)
    let twice = xattr([
      (1, 6, U), (2, 6, 1000), (2, 4, 1000), (4, 4, U), (0x10, 6, U), (0x20, 0, U),
    ])
    XCTAssertNotNil(try PosixAcl.parseValid(xattr: twice))
    XCTAssertNotNil(
      try PosixAcl.parseValid(xattr: xattr([(1, 7, U), (4, 0, U), (0x10, 5, U), (0x20, 1, U)])),
      "a mask with no named entry")
    // The e_id of the fixed entries is ignored, and written back as -1.
    let zeroIDs = xattr([(1, 6, 0), (4, 4, 0), (0x20, 4, 0)])
    XCTAssertEqual(
      try PosixAcl.parseValid(xattr: zeroIDs)?.xattr, xattr([(1, 6, U), (4, 4, U), (0x20, 4, U)]))
  }

  /// Every prefix and every single-byte change of a valid value parses or
  /// throws; none crashes.
  func testDamagedValuesNeverCrash() {
    let good = xattr(named)
    for n in 0...good.count { _ = parseError(Array(good.prefix(n))) }
    for i in good.indices {
      for byte: UInt8 in [0, 1, 0x7F, 0x80, 0xFF] {
        var v = good
        v[i] = byte
        _ = parseError(v)
      }
    }
  }

  // MARK: - The rules

  func testEquivalentMode() throws {
    let plain = PosixAcl(mode: 0o754)
    XCTAssertEqual(plain.equivalentMode.permissions, 0o754)
    XCTAssertTrue(plain.equivalentMode.equivalent)
    let masked = try XCTUnwrap(PosixAcl.parseValid(xattr: xattr(named)))
    XCTAssertEqual(masked.equivalentMode.permissions, 0o664, "group bits from the mask")
    XCTAssertFalse(masked.equivalentMode.equivalent)
  }

  func testChmodSetsMaskOrGroup() throws {
    var masked = try XCTUnwrap(PosixAcl.parseValid(xattr: xattr(named)))
    masked.chmod(0o705)
    XCTAssertEqual(masked.description, "user::rwx,user:1000:rw-,group::r--,mask::---,other::r-x")
    var plain = PosixAcl(mode: 0o644)
    plain.chmod(0o751)
    XCTAssertEqual(plain.description, "user::rwx,group::r-x,other::--x")
  }

  func testCreateMasq() throws {
    // Default u::rwx,u:1000:rwx,g::r-x,m::rwx,o::r-x, a file asked 0666.
    var acl = try XCTUnwrap(
      PosixAcl.parseValid(
        xattr: xattr([(1, 7, U), (2, 7, 1000), (4, 5, U), (0x10, 7, U), (0x20, 5, U)])))
    var mode: UInt32 = 0o100666
    XCTAssertTrue(acl.createMasq(&mode))
    XCTAssertEqual(mode, 0o100664)
    XCTAssertEqual(acl.description, "user::rw-,user:1000:rwx,group::r-x,mask::rw-,other::r--")
    // Without a mask, GROUP_OBJ is cut, and the result says no more than the mode.
    var plain = PosixAcl(mode: 0o750)
    var dirMode: UInt32 = 0o42777
    XCTAssertFalse(plain.createMasq(&dirMode))
    XCTAssertEqual(dirMode, 0o42750, "setgid and type kept")
  }

  // MARK: - On memfs

  func access(_ inode: Inode) -> String? {
    (try? vfs.getxattr(inode, PosixAcl.accessXattr, cred: .root)).flatMap {
      try? PosixAcl.parse(xattr: $0)?.description
    }
  }

  func mode(_ inode: Inode) -> UInt32 { inode.lock.withLock { inode.mode & 0o7777 } }

  func testSettingAnAccessAclSetsTheMode() throws {
    let f = try h.file(root, "f", mode: 0o600)
    try vfs.setxattr(f, PosixAcl.accessXattr, xattr(named), flags: [], cred: .root)
    XCTAssertEqual(mode(f), 0o664)
    XCTAssertEqual(try vfs.listxattr(f, cred: .root), [PosixAcl.accessXattr])
    XCTAssertEqual(f.xattrs.totalSize, 0, "ACLs do not use the xattr space")
    // Malformed: refused, the ACL stays.
    for bad in [xattr(named, version: 1), Array(xattr(named).dropLast()), xattr([(1, 6, U)])] {
      XCTAssertNotNil(
        vtErrno { try self.vfs.setxattr(f, PosixAcl.accessXattr, bad, flags: [], cred: .root) })
      XCTAssertEqual(access(f), "user::rw-,user:1000:rw-,group::r--,mask::rw-,other::r--")
    }
    // chmod moves the mask.
    _ = try vfs.setattr(f, SetAttr(mode: 0o640), cred: .root)
    XCTAssertEqual(access(f), "user::rw-,user:1000:rw-,group::r--,mask::r--,other::---")
    // An ACL a mode says is kept as the mode.
    try vfs.setxattr(
      f, PosixAcl.accessXattr, xattr([(1, 7, U), (4, 5, U), (0x20, 0, U)]), flags: [], cred: .root)
    XCTAssertEqual(mode(f), 0o750)
    XCTAssertNil(access(f))
    XCTAssertEqual(try vfs.listxattr(f, cred: .root), [])
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.getxattr(f, PosixAcl.accessXattr, cred: .root) }, .ENODATA)
  }

  func testWhoMaySetWhat() throws {
    let f = try h.file(root, "f", cred: vtUser)
    let d = try h.dir(root, "d")
    let other = Cred(uid: 1001, gid: 1001)
    XCTAssertEqual(
      vtErrno {
        try self.vfs.setxattr(
          f, PosixAcl.accessXattr, self.xattr(self.named), flags: [], cred: other)
      }, .EPERM)
    XCTAssertEqual(
      vtErrno { try self.vfs.removexattr(f, PosixAcl.accessXattr, cred: other) }, .EPERM)
    XCTAssertNil(
      vtErrno {
        try self.vfs.setxattr(
          f, PosixAcl.accessXattr, self.xattr(self.named), flags: [], cred: vtUser)
      }, "the owner")
    XCTAssertEqual(
      vtErrno {
        try self.vfs.setxattr(
          f, PosixAcl.defaultXattr, self.xattr(self.named), flags: [], cred: .root)
      }, .EACCES, "a default ACL on a file")
    XCTAssertNil(
      vtErrno { try self.vfs.removexattr(f, PosixAcl.defaultXattr, cred: .root) },
      "removing none is fine")
    XCTAssertNil(
      vtErrno {
        try self.vfs.setxattr(
          d, PosixAcl.defaultXattr, self.xattr(self.named), flags: [], cred: .root)
      })
    XCTAssertEqual(try vfs.listxattr(d, cred: .root), [PosixAcl.defaultXattr])
    XCTAssertEqual(mode(d), 0o755, "a default ACL leaves the mode")
    // Setgid goes when the setter is not in the file's group.
    _ = try vfs.setattr(f, SetAttr(mode: 0o2775, gid: 0), cred: .root)
    try vfs.setxattr(f, PosixAcl.accessXattr, xattr(named), flags: [], cred: vtUser)
    XCTAssertEqual(mode(f), 0o664)
    _ = try vfs.setattr(f, SetAttr(mode: 0o2775), cred: .root)
    try vfs.setxattr(
      f, PosixAcl.accessXattr, xattr(named), flags: [], cred: vtUser, groups: { [0] })
    XCTAssertEqual(mode(f), 0o2664, "kept for a member through a supplementary group")
  }

  func testNewInodesInheritTheDefaultAcl() throws {
    let d = try h.dir(root, "d", mode: 0o777)
    try vfs.setxattr(
      d, PosixAcl.defaultXattr,
      xattr([(1, 7, U), (2, 7, 1000), (4, 5, U), (0x10, 7, U), (0x20, 0, U)]),
      flags: [], cred: .root)
    var masked = Cred.root
    masked.umask = 0o077
    let f = try h.file(d, "f", mode: 0o666, cred: masked)
    XCTAssertEqual(mode(f), 0o660, "the default ACL, not the umask")
    XCTAssertEqual(access(f), "user::rw-,user:1000:rwx,group::r-x,mask::rw-,other::---")
    let sub = try h.dir(d, "sub", mode: 0o777, cred: masked)
    XCTAssertEqual(mode(sub), 0o770)
    XCTAssertEqual(
      try vfs.listxattr(sub, cred: .root), [PosixAcl.accessXattr, PosixAcl.defaultXattr])
    let fifo = try vfs.mknod(
      d, "p", mode: FileType.fifo.rawValue | 0o644, rdev: .zero, cred: masked)
    vfs.forget(fifo.ino, count: 1)
    XCTAssertEqual(mode(fifo), 0o640)
    let link = try h.symlink(d, "l", "f")
    XCTAssertEqual(mode(link), 0o777)
    XCTAssertNil(link.acl, "symlinks take no ACL")
    // Without a default ACL the umask applies.
    let plain = try h.file(root, "plain", mode: 0o666, cred: masked)
    XCTAssertEqual(mode(plain), 0o600)
    XCTAssertNil(plain.acl)
    let plainDir = try h.dir(root, "pd", mode: 0o777, cred: masked)
    XCTAssertEqual(mode(plainDir), 0o700)
  }

  /// The largest value the xattr size limit lets through holds 8191 entries.
  func testLargestAcl() throws {
    let f = try h.file(root, "f")
    let users = (0..<8187).map { (UInt16(2), UInt16(4), UInt32($0)) }
    let value = xattr([(1, 6, U)] + users + [(4, 4, U), (0x10, 4, U), (0x20, 4, U)])
    XCTAssertEqual(value.count, 65532)
    try vfs.setxattr(f, PosixAcl.accessXattr, value, flags: [], cred: .root)
    XCTAssertEqual(try vfs.getxattr(f, PosixAcl.accessXattr, cred: .root), value)
    try vfs.setxattr(f, "user.x", [UInt8](repeating: 1, count: 60000), flags: [], cred: .root)
  }

  /// The consistency checker notices an ACL out of step with the mode.
  func testCheckerSeesAnAclOutOfStep() throws {
    let f = try h.file(root, "f")
    try vfs.setxattr(f, PosixAcl.accessXattr, xattr(named), flags: [], cred: .root)
    XCTAssertEqual(vfs.check(), [])
    f.lock.withLock { f.mode = f.mode & ~0o777 | 0o600 }
    XCTAssertEqual(vfs.check().count, 1)
    f.lock.withLock {
      f.mode = f.mode & ~0o777 | 0o664
      f.defaultAcl = PosixAcl(mode: 0o644)
    }
    XCTAssertEqual(vfs.check().count, 1, "a default ACL on a file")
    f.lock.withLock { f.defaultAcl = nil }
  }
}
