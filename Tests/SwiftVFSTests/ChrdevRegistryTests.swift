import Foundation
import SwiftVFS
import XCTest

final class ChrdevRegistryTests: XCTestCase {
  struct Dummy: FileOperations {}

  func dev(_ major: UInt32, _ minor: UInt32) -> DevT { try! DevT(major: major, minor: minor) }

  func testFixedRegionAndOverlap() throws {
    let r = ChrdevRegistry()
    try r.registerRegion(dev(42, 0), count: 4, name: "a")
    XCTAssertEqual(devThrown { try r.registerRegion(dev(42, 3), count: 2, name: "b") }, .EBUSY)
    XCTAssertEqual(devThrown { try r.registerRegion(dev(42, 0), count: 1, name: "b") }, .EBUSY)
    XCTAssertEqual(devThrown { try r.registerRegion(dev(42, 0), count: 300, name: "b") }, .EBUSY)
    try r.registerRegion(dev(42, 4), count: 2, name: "adjacent")  // right after: free
    try r.registerRegion(dev(43, 0), count: 4, name: "other major")
    XCTAssertEqual(r.allRegions.map(\.name), ["a", "adjacent", "other major"])
    XCTAssertTrue(r.allRegions[0].contains(dev(42, 3)))
    XCTAssertFalse(r.allRegions[0].contains(dev(42, 4)))
  }

  func testBadRegionsAreEINVAL() {
    let r = ChrdevRegistry()
    XCTAssertEqual(devThrown { try r.registerRegion(dev(42, 0), count: 0, name: "x") }, .EINVAL)
    XCTAssertEqual(devThrown { try r.registerRegion(dev(0, 0), count: 1, name: "x") }, .EINVAL)
    XCTAssertEqual(
      devThrown { try r.registerRegion(dev(42, DevT.maxMinor), count: 2, name: "x") }, .EINVAL)
    XCTAssertEqual(devThrown { try r.allocRegion(count: 0, name: "x") }, .EINVAL)
    XCTAssertEqual(
      devThrown { try r.allocRegion(firstMinor: DevT.maxMinor, count: 2, name: "x") }, .EINVAL)
    XCTAssertTrue(r.allRegions.isEmpty)
    // The last minor of the last major is fine.
    XCTAssertNil(devThrown { try r.registerRegion(dev(4095, DevT.maxMinor), count: 1, name: "x") })
  }

  func testDynamicMajorsFromTheTopDown() throws {
    let r = ChrdevRegistry()
    XCTAssertEqual(try r.allocRegion(count: 4, name: "one"), dev(254, 0))
    XCTAssertEqual(try r.allocRegion(firstMinor: 10, count: 1, name: "two"), dev(253, 10))
    // A fixed region on a dynamic major keeps it from being handed out.
    try r.registerRegion(dev(252, 0), count: 1, name: "fixed")
    XCTAssertEqual(try r.allocRegion(count: 1, name: "three"), dev(251, 0))
    // Use up the rest: 234...250.
    for _ in 234...250 { _ = try r.allocRegion(count: 1, name: "more") }
    XCTAssertEqual(devThrown { try r.allocRegion(count: 1, name: "none left") }, .EBUSY)
    r.unregisterRegion(dev(253, 10), count: 1)
    XCTAssertEqual(try r.allocRegion(count: 1, name: "reused"), dev(253, 0))
  }

  func testCdevAddLookupRemove() throws {
    let r = ChrdevRegistry()
    try r.registerRegion(dev(42, 0), count: 8, name: "drv")
    try r.add(.init(base: dev(42, 2), count: 3, name: "drv", fileOps: Dummy()))
    XCTAssertNil(r.cdev(for: dev(42, 1)))
    XCTAssertEqual(r.cdev(for: dev(42, 2))?.name, "drv")
    XCTAssertEqual(r.cdev(for: dev(42, 4))?.name, "drv")
    XCTAssertNil(r.cdev(for: dev(42, 5)))
    XCTAssertNil(r.cdev(for: dev(43, 2)))
    XCTAssertEqual(
      devThrown { try r.add(.init(base: dev(42, 4), count: 2, name: "x", fileOps: Dummy())) },
      .EBUSY)
    XCTAssertEqual(
      devThrown { try r.add(.init(base: dev(42, 0), count: 0, name: "x", fileOps: Dummy())) },
      .EINVAL)
    try r.add(.init(base: dev(42, 5), count: 1, name: "next", fileOps: Dummy()))
    XCTAssertEqual(r.cdev(for: dev(42, 5))?.name, "next")
    r.remove(base: dev(42, 2))
    XCTAssertNil(r.cdev(for: dev(42, 3)))
    XCTAssertEqual(r.allCdevs.count, 1)
  }

  func testUnregisterDropsItsCdevs() throws {
    let r = ChrdevRegistry()
    try r.registerRegion(dev(42, 0), count: 4, name: "drv")
    try r.add(.init(base: dev(42, 0), count: 4, name: "drv", fileOps: Dummy()))
    try r.add(.init(base: dev(43, 0), count: 1, name: "other", fileOps: Dummy()))
    r.unregisterRegion(dev(42, 0), count: 4)
    XCTAssertNil(r.cdev(for: dev(42, 1)))
    XCTAssertNotNil(r.cdev(for: dev(43, 0)))
    XCTAssertTrue(r.allRegions.isEmpty)
    // The numbers are free again.
    try r.registerRegion(dev(42, 0), count: 4, name: "again")
  }

  func testRegisterChrdev() throws {
    let r = ChrdevRegistry()
    XCTAssertEqual(try r.registerChrdev(name: "dyn", fileOps: Dummy()), 254)
    XCTAssertEqual(try r.registerChrdev(major: 60, name: "fixed", fileOps: Dummy()), 60)
    XCTAssertEqual(r.cdev(for: dev(60, 255))?.name, "fixed")
    XCTAssertNil(r.cdev(for: dev(60, 256)))
    XCTAssertEqual(
      devThrown { try r.registerChrdev(major: 60, name: "again", fileOps: Dummy()) }, .EBUSY)
    // A cdev in the way: the region taken is given back.
    try r.add(.init(base: dev(61, 7), name: "squatter", fileOps: Dummy()))
    XCTAssertEqual(
      devThrown { try r.registerChrdev(major: 61, name: "x", fileOps: Dummy()) }, .EBUSY)
    XCTAssertFalse(r.allRegions.contains { $0.base.major == 61 })
    r.unregisterChrdev(major: 60)
    XCTAssertNil(r.cdev(for: dev(60, 0)))
    XCTAssertEqual(r.allRegions.map(\.name), ["dyn"])
  }

  func testConcurrentAllocationsGetDistinctMajors() throws {
    let r = ChrdevRegistry()
    let results = DevMajorBox()
    DispatchQueue.concurrentPerform(iterations: 16) { i in
      if let base = try? r.allocRegion(count: 1, name: "t\(i)") { results.add(base.major) }
    }
    XCTAssertEqual(results.values.count, 16)
    XCTAssertEqual(Set(results.values).count, 16)
  }

  func testBuiltinsAreRegisteredThroughTheRegistry() throws {
    let vfs = try devStandardVFS()
    let regions = vfs.chrdevs.allRegions
    XCTAssertTrue(regions.contains { $0.base == dev(1, 0) && $0.count == 256 && $0.name == "mem" })
    XCTAssertTrue(
      regions.contains { $0.base == dev(254, 0) && $0.count == 4 && $0.name == "scull" })
    XCTAssertTrue(regions.contains { $0.base == dev(253, 0) && $0.count == 1 && $0.name == "log" })
    XCTAssertEqual(vfs.chrdevs.cdev(for: dev(1, 3))?.name, "mem")
    XCTAssertEqual(vfs.chrdevs.cdev(for: dev(254, 3))?.name, "scull")
    XCTAssertNil(vfs.chrdevs.cdev(for: dev(254, 4)))
  }
}

final class DevMajorBox: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [UInt32] = []
  func add(_ v: UInt32) { lock.withLock { items.append(v) } }
  var values: [UInt32] { lock.withLock { items } }
}
