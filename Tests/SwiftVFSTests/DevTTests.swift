import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// glibc's own makedev/major/minor (gnu_dev_*, the functions behind the
/// <sys/sysmacros.h> macros), looked up in libc so that the test compares
/// against glibc and not against a copy of our formula.
private enum GlibcDev {
  typealias MakeDev = @convention(c) (UInt32, UInt32) -> UInt64
  typealias Part = @convention(c) (UInt64) -> UInt32
  static let makedev: MakeDev = symbol("gnu_dev_makedev")
  static let major: Part = symbol("gnu_dev_major")
  static let minor: Part = symbol("gnu_dev_minor")

  private static func symbol<F>(_ name: String) -> F {
    guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else {
      fatalError("libc has no \(name)")
    }
    return unsafeBitCast(sym, to: F.self)
  }
}

final class DevTTests: XCTestCase {
  func testMKDEVAndParts() throws {
    let dev = try DevT(major: 1, minor: 3)
    XCTAssertEqual(dev.major, 1)
    XCTAssertEqual(dev.minor, 3)
    XCTAssertEqual(dev.rawValue, 1 << 20 | 3)
    XCTAssertEqual(dev.description, "1:3")
    XCTAssertEqual(DevT.zero.major, 0)
    XCTAssertEqual(DevT.zero.minor, 0)
  }

  func testEdges() throws {
    let top = try DevT(major: 4095, minor: 1_048_575)
    XCTAssertEqual(top.major, 4095)
    XCTAssertEqual(top.minor, 1_048_575)
    XCTAssertEqual(top.rawValue, UInt32.max)
    XCTAssertEqual(DevT.maxMajor, 4095)
    XCTAssertEqual(DevT.maxMinor, 1_048_575)
    XCTAssertEqual(try DevT(major: 4095, minor: 0).major, 4095)
    XCTAssertEqual(try DevT(major: 0, minor: 1_048_575).minor, 1_048_575)
  }

  func testOutOfRangeIsEINVAL() {
    XCTAssertEqual(devThrown { try DevT(major: 4096, minor: 0) }, .EINVAL)
    XCTAssertEqual(devThrown { try DevT(major: 0, minor: 1_048_576) }, .EINVAL)
    XCTAssertEqual(devThrown { try DevT(major: UInt32.max, minor: UInt32.max) }, .EINVAL)
  }

  func testUserEncodingMatchesGlibc() throws {
    let cases: [(UInt32, UInt32)] = [
      (0, 0), (1, 3), (1, 9), (8, 1), (254, 0), (255, 255), (256, 256), (4095, 1_048_575),
      (4095, 0), (0, 1_048_575), (0x123, 0xabcde), (10, 200),
    ]
    for (major, minor) in cases {
      let dev = try DevT(major: major, minor: minor)
      let glibc = GlibcDev.makedev(major, minor)
      XCTAssertEqual(dev.userEncoding, glibc, "\(major):\(minor)")
      XCTAssertEqual(GlibcDev.major(dev.userEncoding), major)
      XCTAssertEqual(GlibcDev.minor(dev.userEncoding), minor)
      let back = try DevT(userEncoding: glibc)
      XCTAssertEqual(back, dev)
    }
  }

  func testUserEncodingOfTheFamiliarNodes() throws {
    // ls -l /dev/null says 1, 3; stat says st_rdev 0x103.
    XCTAssertEqual(try DevT(major: 1, minor: 3).userEncoding, 0x103)
    var st = stat()
    if stat("/dev/null", &st) == 0 {
      XCTAssertEqual(try DevT(userEncoding: UInt64(st.st_rdev)), try DevT(major: 1, minor: 3))
    }
  }

  func testUserEncodingOutOfRangeIsEINVAL() {
    // Majors and minors glibc can encode but the kernel's 12/20 bits can't hold.
    XCTAssertEqual(devThrown { try DevT(userEncoding: GlibcDev.makedev(4096, 0)) }, .EINVAL)
    XCTAssertEqual(devThrown { try DevT(userEncoding: GlibcDev.makedev(0, 1_048_576)) }, .EINVAL)
    XCTAssertEqual(devThrown { try DevT(userEncoding: GlibcDev.makedev(UInt32.max, 0)) }, .EINVAL)
    XCTAssertEqual(devThrown { try DevT(userEncoding: UInt64.max) }, .EINVAL)
  }

  func testParsing() throws {
    XCTAssertEqual(try DevT(parsing: "1:3"), try DevT(major: 1, minor: 3))
    XCTAssertEqual(try DevT(parsing: "4095:1048575"), try DevT(major: 4095, minor: 1_048_575))
    for bad in ["", "1", "1:", ":3", "1:3:4", "a:b", "-1:3", "4096:0", "0:1048576", " 1:3"] {
      XCTAssertEqual(devThrown { try DevT(parsing: bad) }, .EINVAL, bad)
    }
  }

  func testOrderFollowsMajorThenMinor() throws {
    XCTAssertLessThan(try DevT(major: 1, minor: 1_048_575), try DevT(major: 2, minor: 0))
    XCTAssertLessThan(try DevT(major: 1, minor: 3), try DevT(major: 1, minor: 5))
  }
}
