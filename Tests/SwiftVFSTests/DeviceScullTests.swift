import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// scull: LDD3's memory device, through the VFS entry points.
final class DeviceScullTests: XCTestCase {
  var vfs: VFS!
  let user = Cred(uid: 1000, gid: 1000)

  override func setUpWithError() throws {
    vfs = try devStandardVFS()
  }

  /// A scull device's state, from the private data of a file open on it.
  func scullDevice(_ n: Int) -> ScullDevice {
    let (fh, file) = try! vfs.devOpen("/dev/scull\(n)", O_RDONLY)
    defer { vfs.release(fh) }
    return file.privateData as! ScullDevice
  }

  func open(_ n: Int = 0, _ flags: Int32, cred: Cred = .root) throws -> (UInt64, File) {
    try vfs.devOpen("/dev/scull\(n)", flags, cred: cred)
  }

  func testWriteThenReadBack() throws {
    let (w, wf) = try open(0, O_WRONLY)
    XCTAssertEqual(try vfs.devWrite(wf, "hello, scull"), 12)
    vfs.release(w)
    let (r, rf) = try open(0, O_RDONLY)
    defer { vfs.release(r) }
    XCTAssertEqual(String(decoding: try vfs.devRead(rf, count: 100), as: UTF8.self), "hello, scull")
    XCTAssertEqual(try vfs.devRead(rf, count: 100, at: 7), Array("scull".utf8))
    XCTAssertEqual(try vfs.devRead(rf, count: 100, at: 12), [])
    XCTAssertEqual(try vfs.devRead(rf, count: 100, at: 1 << 40), [])
    // The four devices are separate.
    let (r1, rf1) = try open(1, O_RDONLY)
    defer { vfs.release(r1) }
    XCTAssertEqual(try vfs.devRead(rf1, count: 100), [])
  }

  func testOffsetsAndHoles() throws {
    let (fh, f) = try open(2, O_RDWR)
    defer { vfs.release(fh) }
    XCTAssertEqual(try vfs.devWrite(f, "end", at: 10_000), 3)
    XCTAssertEqual(try vfs.devRead(f, count: 10, at: 5_000), [UInt8](repeating: 0, count: 10))
    XCTAssertEqual(try vfs.devRead(f, count: 10, at: 10_000), Array("end".utf8))
    XCTAssertEqual(try vfs.devWrite(f, "mid", at: 7_998), 2, "a write stops at the quantum's end")
    XCTAssertEqual(try vfs.devRead(f, count: 10, at: 7_998), Array("mi".utf8), "a read too")
    XCTAssertEqual(try vfs.devRead(f, count: 10, at: 8_000), [UInt8](repeating: 0, count: 10))
    XCTAssertEqual(Scull.defaultQuantum, 4000)
    XCTAssertEqual(vfs.lseekHole(f), 10_003)
  }

  func testQuantumBoundaries() throws {
    let (fh, f) = try open(0, O_RDWR)
    defer { vfs.release(fh) }
    let big = [UInt8]((0..<10_000).map { UInt8($0 % 251) })
    // Like LDD3: at most up to the end of the quantum per call; the caller goes on.
    var done = 0
    var calls = 0
    while done < big.count {
      done += try vfs.devWrite(f, Array(big[done...]), at: Int64(done))
      calls += 1
    }
    XCTAssertEqual(calls, 3)  // 4000 + 4000 + 2000
    var back: [UInt8] = []
    while true {
      let chunk = try vfs.devRead(f, count: 65536, at: Int64(back.count))
      if chunk.isEmpty { break }
      XCTAssertLessThanOrEqual(chunk.count, 4000)
      back += chunk
    }
    XCTAssertEqual(back, big)
  }

  func testOpenWriteOnlyOrTruncateEmptiesIt() throws {
    func fill() throws {
      let (fh, f) = try open(0, O_RDWR)
      _ = try vfs.devWrite(f, "data")
      vfs.release(fh)
    }
    func size() -> Int64 { scullDevice(0).byteCount }
    try fill()
    XCTAssertEqual(size(), 4)
    vfs.release(try open(0, O_RDONLY).0)
    vfs.release(try open(0, O_RDWR).0)
    XCTAssertEqual(size(), 4, "read or read-write opens keep the data")
    vfs.release(try open(0, O_RDONLY | O_TRUNC).0)
    XCTAssertEqual(size(), 4, "O_TRUNC without write access does nothing")
    vfs.release(try open(0, O_WRONLY).0)
    XCTAssertEqual(size(), 0, "write-only open trims (LDD3)")
    try fill()
    vfs.release(try open(0, O_RDWR | O_TRUNC).0)
    XCTAssertEqual(size(), 0, "O_TRUNC for writing trims")
    try fill()
    vfs.release(try open(0, O_WRONLY | O_APPEND).0)
    XCTAssertEqual(size(), 0, "echo x >> scull0 trims too, as in LDD3")
  }

  func testQueryAndTell() throws {
    let (fh, f) = try open(0, O_RDONLY)
    defer { vfs.release(fh) }
    XCTAssertEqual(try vfs.devIoctl(f, Scull.queryQuantum).result, 4000)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.queryQset).result, 1000)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.tellQuantum, argument: 100).result, 0)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.tellQset, argument: 10).result, 0)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.queryQuantum).result, 100)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.queryQset).result, 10)
    // Driver-wide, as in LDD3: the other devices' files see it too.
    let (fh3, f3) = try open(3, O_RDONLY)
    defer { vfs.release(fh3) }
    XCTAssertEqual(try vfs.devIoctl(f3, Scull.queryQuantum).result, 100)
  }

  func testGetAndSetThroughPointers() throws {
    let (fh, f) = try open(1, O_RDONLY)
    defer { vfs.release(fh) }
    let got = try vfs.devIoctl(f, Scull.getQuantum, outputSize: 4)
    XCTAssertEqual(got.result, 0)
    XCTAssertEqual(got.output, Ioctl.bytes(of: 4000))
    XCTAssertEqual(try vfs.devIoctl(f, Scull.setQset, input: Ioctl.bytes(of: 7)).result, 0)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.getQset, outputSize: 4).output, Ioctl.bytes(of: 7))
    XCTAssertEqual(devThrown { try vfs.devIoctl(f, Scull.setQset, input: [1, 0]) }, .EFAULT)
    XCTAssertEqual(devThrown { try vfs.devIoctl(f, Scull.getQset, outputSize: 2) }, .EFAULT)
  }

  func testExchangeAndShift() throws {
    let (fh, f) = try open(0, O_RDONLY)
    defer { vfs.release(fh) }
    let x = try vfs.devIoctl(f, Scull.exchangeQuantum, input: Ioctl.bytes(of: 512), outputSize: 4)
    XCTAssertEqual(x.output, Ioctl.bytes(of: 4000))
    XCTAssertEqual(try vfs.devIoctl(f, Scull.shiftQuantum, argument: 256).result, 512)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.queryQuantum).result, 256)
    let q = try vfs.devIoctl(f, Scull.exchangeQset, input: Ioctl.bytes(of: 3), outputSize: 4)
    XCTAssertEqual(q.output, Ioctl.bytes(of: 1000))
    XCTAssertEqual(try vfs.devIoctl(f, Scull.shiftQset, argument: 4).result, 3)
  }

  func testNewSettingsApplyWhenTheDeviceIsEmptied() throws {
    let (fh, f) = try open(0, O_RDONLY)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.tellQuantum, argument: 100).result, 0)
    vfs.release(fh)
    let (w, wf) = try open(0, O_WRONLY)  // trims: quantum 100 from now on
    defer { vfs.release(w) }
    XCTAssertEqual(scullDevice(0).layout.quantum, 100)
    XCTAssertEqual(try vfs.devWrite(wf, [UInt8](repeating: 1, count: 250)), 100)
    XCTAssertEqual(try vfs.devWrite(wf, [UInt8](repeating: 2, count: 250), at: 100), 100)
    XCTAssertEqual(scullDevice(1).layout.quantum, 4000, "not emptied yet")
  }

  func testResetRestoresDefaultsAndEmpties() throws {
    let (fh, f) = try open(0, O_RDWR)
    defer { vfs.release(fh) }
    _ = try vfs.devIoctl(f, Scull.tellQuantum, argument: 10)
    _ = try vfs.devIoctl(f, Scull.tellQset, argument: 10)
    XCTAssertEqual(try vfs.devWrite(f, "abc"), 3)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.reset).result, 0)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.queryQuantum).result, 4000)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.queryQset).result, 1000)
    XCTAssertEqual(try vfs.devRead(f, count: 10), [])
  }

  func testPrivilegeAndBadCommands() throws {
    let (fh, f) = try open(0, O_RDONLY, cred: user)
    defer { vfs.release(fh) }
    // Anyone may query; only root may change (CAP_SYS_ADMIN in LDD3).
    XCTAssertEqual(try vfs.devIoctl(f, Scull.queryQuantum).result, 4000)
    XCTAssertEqual(try vfs.devIoctl(f, Scull.getQset, outputSize: 4).output, Ioctl.bytes(of: 1000))
    for cmd in [Scull.tellQuantum, Scull.tellQset, Scull.shiftQuantum, Scull.shiftQset] {
      XCTAssertEqual(devThrown { try vfs.devIoctl(f, cmd, argument: 5) }, .EPERM)
    }
    XCTAssertEqual(
      devThrown { try vfs.devIoctl(f, Scull.setQuantum, input: Ioctl.bytes(of: 5)) }, .EPERM)
    XCTAssertEqual(
      devThrown {
        try vfs.devIoctl(f, Scull.exchangeQset, input: Ioctl.bytes(of: 5), outputSize: 4)
      },
      .EPERM)
    let (rfh, rf) = try open(0, O_RDONLY)
    defer { vfs.release(rfh) }
    XCTAssertEqual(
      devThrown { try vfs.devIoctl(rf, Ioctl.io(UInt8(ascii: "x"), 7)) }, .ENOTTY, "another magic")
    XCTAssertEqual(
      devThrown { try vfs.devIoctl(rf, Ioctl.io(Scull.magic, 13)) }, .ENOTTY, "past MAXNR")
    XCTAssertEqual(
      devThrown { try vfs.devIoctl(rf, Ioctl.ior(Scull.magic, 7, size: 8), outputSize: 8) },
      .ENOTTY,
      "a known number with another encoding")
    // Values that would break the layout are refused.
    for bad: UInt64 in [0, UInt64(bitPattern: -5), 1 << 21, 1 << 40] {
      XCTAssertEqual(
        devThrown { try vfs.devIoctl(rf, Scull.tellQuantum, argument: bad) }, .EINVAL, "\(bad)")
    }
    XCTAssertEqual(
      devThrown { try vfs.devIoctl(rf, Scull.setQset, input: Ioctl.bytes(of: 0)) }, .EINVAL)
    XCTAssertEqual(try vfs.devIoctl(rf, Scull.queryQuantum).result, 4000)
  }

  func testSizeLimit() throws {
    let (fh, f) = try open(0, O_RDWR)
    defer { vfs.release(fh) }
    XCTAssertEqual(devThrown { try vfs.devWrite(f, "x", at: Scull.maxSize) }, .EFBIG)
    XCTAssertEqual(try vfs.devWrite(f, "xyz", at: Scull.maxSize - 1), 1)
    XCTAssertEqual(try vfs.devRead(f, count: 4, at: Scull.maxSize - 1), Array("x".utf8))
  }

  func testConcurrentWritersAndReaders() throws {
    let vfs = self.vfs!
    DispatchQueue.concurrentPerform(iterations: 8) { i in
      guard let (fh, f) = try? vfs.devOpen("/dev/scull\(i % 4)", O_RDWR) else { return }
      defer { vfs.release(fh) }
      let block = [UInt8](repeating: UInt8(i), count: 1000)
      for k in 0..<20 {
        _ = try? vfs.devWrite(f, block, at: Int64((i / 4) * 20_000 + k * 1000))
        _ = try? vfs.devRead(f, count: 1000, at: Int64(k * 1000))
      }
    }
    for n in 0..<4 {
      XCTAssertEqual(scullDevice(n).byteCount, 40_000)
      let (fh, f) = try open(n, O_RDONLY)
      XCTAssertEqual(
        try vfs.devRead(f, count: 1000, at: 0), [UInt8](repeating: UInt8(n), count: 1000))
      XCTAssertEqual(
        try vfs.devRead(f, count: 1000, at: 20_000), [UInt8](repeating: UInt8(n + 4), count: 1000))
      vfs.release(fh)
    }
  }
}

extension VFS {
  /// SEEK_HOLE at 0, as FUSE forwards it.
  func lseekHole(_ file: File) -> Int64 {
    (try? lseek(file, offset: 0, whence: Whence.hole)) ?? -1
  }
}
