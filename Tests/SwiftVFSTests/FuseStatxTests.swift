import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// struct fuse_statx_out as the kernel reads it (fuse_do_statx()), and the
/// birth time memfs keeps.
final class FuseStatxTests: XCTestCase {
  func testStatxOutLayoutMatchesTheKernelHeader() {
    var sx = FuseStatx()
    sx.mask = FuseStatx.basicStats | FuseStatx.btimeMask
    sx.mode = 0o100644
    sx.ino = 0x1122_3344
    sx.btime = FuseSxTime(sec: 1_700_000_000, nsec: 123)
    sx.mtime = FuseSxTime(sec: 5, nsec: 6)
    sx.rdevMajor = 7
    sx.devMinor = 9
    let out = FuseStatxOut(attrValid: 3, attrValidNsec: 4, stat: sx)
    var w = FuseWireWriter()
    out.encode(into: &w)
    XCTAssertEqual(w.bytes.count, 288)
    let wire = FuseWireBytes(w.bytes)
    XCTAssertEqual(wire.u64(at: 0), 3)
    XCTAssertEqual(wire.u32(at: 8), 4)
    XCTAssertEqual(wire.u32(at: 32), 0xfff)  // stat.mask
    XCTAssertEqual(wire.u16(at: 32 + 28), 0o100644)  // stat.mode
    XCTAssertEqual(wire.u64(at: 32 + 32), 0x1122_3344)  // stat.ino
    XCTAssertEqual(wire.i64(at: 32 + 80), 1_700_000_000)  // stat.btime.tv_sec
    XCTAssertEqual(wire.u32(at: 32 + 88), 123)  // stat.btime.tv_nsec
    XCTAssertEqual(wire.i64(at: 32 + 112), 5)  // stat.mtime.tv_sec
    XCTAssertEqual(wire.u32(at: 32 + 128), 7)  // stat.rdev_major
    XCTAssertEqual(wire.u32(at: 32 + 140), 9)  // stat.dev_minor
    XCTAssertEqual(FuseStatxOut.decode(wire), out)
  }

  func testMemfsBirthTimeIsSetAtCreationAndNeverMoves() throws {
    let h = try MemfsHarness()
    let before = Timestamp.now
    let f = try h.file(h.root, "f", [1, 2, 3])
    let after = Timestamp.now
    let born = try XCTUnwrap(try h.vfs.getattr(f).btime)
    XCTAssertTrue(before <= born && born <= after)
    _ = try h.vfs.setattr(f, SetAttr(mode: 0o600), cred: .root)
    XCTAssertEqual(try h.vfs.getattr(f).btime, born)
    XCTAssertEqual(try h.vfs.getattr(h.root).btime.map { $0 <= before }, true)
  }
}
