import SwiftVFS
import XCTest

/// The char-node view rule in the VFS core (`DeviceNodeViews`): a node whose
/// number a cdev serves is shown as a regular file, any other as it is; and
/// when a driver adds or deletes a cdev, the observer hears every name of
/// every node in range that the layer above may hold.
final class DeviceNodeViewsTests: XCTestCase {
  final class Recorder: DeviceNodeViewObserver, @unchecked Sendable {
    var batches: [[DeviceNodeName]] = []
    func deviceNodeViewsChanged(_ names: [DeviceNodeName]) { batches.append(names) }
    func take() -> Set<String> {
      defer { batches = [] }
      return Set(batches.joined().map { "\($0.parent)/\($0.name)" })
    }
  }

  var vfs: VFS!
  let recorder = Recorder()

  override func setUpWithError() throws {
    vfs = try devStandardVFS()
    vfs.deviceNodeViews.observer = recorder
  }

  func testShownTypeFollowsTheRegistry() throws {
    XCTAssertEqual(vfs.shownType(try vfs.devResolve("/dev/null")), .regular)
    XCTAssertEqual(vfs.shownType(try vfs.devResolve("/dev/scull0")), .regular)
    // 1:2 is /dev/mem in Linux; no Swift driver serves it.
    try vfs.devMknod("/mem", .characterDevice, try DevT(major: 1, minor: 2))
    try vfs.devMknod("/sda", .blockDevice, try DevT(major: 8, minor: 0))
    XCTAssertEqual(vfs.shownType(try vfs.devResolve("/mem")), .characterDevice)
    XCTAssertEqual(vfs.shownType(try vfs.devResolve("/sda")), .blockDevice)
    XCTAssertEqual(vfs.shownType(vfs.root), .directory)
    XCTAssertFalse(vfs.showsAsRegularFile(type: .blockDevice, rdev: try DevT(major: 1, minor: 3)))
    XCTAssertTrue(
      vfs.showsAsRegularFile(type: .characterDevice, rdev: try DevT(major: 1, minor: 3)))
  }

  func testAddAndDeleteTellEveryHeldName() throws {
    let dev = try vfs.devResolve("/dev")
    try vfs.devMknod("/dev/a", .characterDevice, try DevT(major: 240, minor: 0))
    try vfs.devMknod("/dev/unheld", .characterDevice, try DevT(major: 240, minor: 1))
    try vfs.devMknod("/dev/other", .characterDevice, try DevT(major: 241, minor: 0))
    try vfs.devMknod("/b", .characterDevice, try DevT(major: 240, minor: 1))
    let a = try vfs.devResolve("/dev/a")  // the kernel holds it now
    _ = try vfs.link(a, dev, "a2")  // a second name of the same inode
    _ = try vfs.devResolve("/b")
    _ = try vfs.devResolve("/dev/other")
    let names = Set(["\(dev.ino)/a", "\(dev.ino)/a2", "\(vfs.root.ino)/b"])
    XCTAssertEqual(vfs.shownType(a), .characterDevice)

    struct Nothing: FileOperations {}
    let base = try DevT(major: 240, minor: 0)
    try vfs.chrdevs.registerRegion(base, count: 2, name: "two")
    XCTAssertEqual(recorder.take(), [], "a region alone serves nothing")
    try vfs.chrdevs.add(.init(base: base, count: 2, name: "two", fileOps: Nothing()))
    XCTAssertEqual(recorder.take(), names, "never looked up: /dev/unheld is not cached above")
    XCTAssertEqual(vfs.shownType(a), .regular)

    vfs.chrdevs.remove(base: base)
    XCTAssertEqual(recorder.take(), names)
    XCTAssertEqual(vfs.shownType(a), .characterDevice)
    vfs.chrdevs.remove(base: base)
    XCTAssertEqual(recorder.take(), [], "nothing was there to delete")

    try vfs.chrdevs.add(.init(base: base, count: 1, name: "one", fileOps: Nothing()))
    let onlyA = Set(["\(dev.ino)/a", "\(dev.ino)/a2"])
    XCTAssertEqual(recorder.take(), onlyA, "240:1 (/b) is outside the cdev")
    vfs.chrdevs.unregisterRegion(base, count: 2)
    XCTAssertEqual(recorder.take(), onlyA, "the region took its cdev with it")

    try vfs.chrdevs.registerChrdev(major: 240, name: "whole", fileOps: Nothing())
    XCTAssertEqual(recorder.take(), names)
    vfs.chrdevs.unregisterChrdev(major: 240)
    XCTAssertEqual(recorder.take(), names)
    XCTAssertEqual(vfs.shownType(try vfs.devResolve("/dev/other")), .characterDevice)
  }

  func testNoObserverNoWalk() throws {
    vfs.deviceNodeViews.observer = nil
    _ = try vfs.devResolve("/dev/null")
    vfs.chrdevs.unregisterRegion(try DevT(major: 1, minor: 0), count: 256)
    XCTAssertEqual(vfs.shownType(try vfs.devResolve("/dev/null")), .characterDevice)
    XCTAssertEqual(recorder.take(), [])
  }
}
