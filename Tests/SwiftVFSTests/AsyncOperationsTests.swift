import Logging
import Synchronization
import XCTest

@testable import SwiftVFS

/// The async operations in the VFS core (AsyncOperations.swift), cache
/// invalidation (CacheInvalidation.swift) and the bridge's log lines, without
/// a mount.
final class AsyncOperationsTests: XCTestCase {
  /// A directory whose async lookup counts its calls and finds `a` only.
  final class CountingDirectory: AsyncInodeOperations, FileOperations {
    let calls = Mutex(0)
    let child = Mutex<Inode?>(nil)
    func lookupAsync(_ dir: Inode, _ name: FileName) async throws(Errno) -> Inode? {
      await Task.yield()
      calls.withLock { $0 += 1 }
      return name == "a" ? child.withLock { $0 } : nil
    }
  }

  /// A file with only the sync read: the async default must call it.
  struct SyncOnlyFile: AsyncFileOperations, InodeOperations {
    func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
      throws(Errno) -> Int
    {
      let text = Array("sync read".utf8)
      guard offset < text.count else { return 0 }
      let n = min(buffer.count, text.count - Int(offset))
      buffer.copyBytes(from: text[Int(offset)..<Int(offset) + n])
      return n
    }
  }

  final class FakeFS: FileSystemType, @unchecked Sendable {
    let name = "fakefs"
    let directory = CountingDirectory()
    func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
      let sb = SuperBlock(fsType: self, ops: FakeSuper(), context: context, magic: 1)
      let root = try sb.newInode(
        mode: FileType.directory.rawValue | 0o755, cred: context.cred, ops: directory,
        fileOps: directory)
      sb.setRoot(root)
      let file = try sb.newInode(
        mode: FileType.regular.rawValue | 0o644, cred: context.cred, ops: SyncOnlyFile(),
        fileOps: SyncOnlyFile())
      directory.child.withLock { $0 = file }
      return sb
    }
  }
  struct FakeSuper: SuperOperations {}

  final class Recorder: DeviceNodeViewObserver, @unchecked Sendable {
    var entries: [String] = []
    var inodes: [UInt64] = []
    func deviceNodeViewsChanged(_ names: [DeviceNodeName]) {
      entries += names.map { "\($0.parent)/\($0.name)" }
    }
    func inodeChanged(_ ino: UInt64) { inodes.append(ino) }
  }

  func makeVFS() throws -> (VFS, FakeFS) {
    let vfs = VFS()
    let fs = FakeFS()
    try vfs.filesystems.register(fs)
    try vfs.mount("fakefs", at: "/", options: MountOptions())
    return (vfs, fs)
  }

  func testAsyncLookupIsCachedAndInvalidationDropsIt() async throws {
    let (vfs, fs) = try makeVFS()
    let root = vfs.root
    XCTAssertTrue(root.hasAsyncOperations)
    let a = try await vfs.lookupAsync(root, "a")
    _ = try await vfs.lookupAsync(root, "a")
    do {
      _ = try await vfs.lookupAsync(root, "b")
      XCTFail("b was found")
    } catch {
      XCTAssertEqual(error, .ENOENT)
    }
    _ = try? await vfs.lookupAsync(root, "b")
    // One call per name: the second of each came from the dcache (positive, negative).
    XCTAssertEqual(fs.directory.calls.withLock { $0 }, 2)

    vfs.invalidate(entry: "a", in: root)
    vfs.invalidate(entry: "b", in: root)
    let again = try await vfs.lookupAsync(root, "a")
    _ = try? await vfs.lookupAsync(root, "b")
    XCTAssertEqual(fs.directory.calls.withLock { $0 }, 4)
    XCTAssertTrue(a === again)
    vfs.forget(a.ino, count: 3)
  }

  func testInvalidationReachesTheObserver() throws {
    let (vfs, fs) = try makeVFS()
    let recorder = Recorder()
    vfs.deviceNodeViews.observer = recorder
    let file = try XCTUnwrap(fs.directory.child.withLock { $0 })
    vfs.invalidate(entry: "a", in: vfs.root)
    vfs.invalidate(inode: file)
    XCTAssertEqual(recorder.entries, ["\(vfs.root.ino)/a"])
    XCTAssertEqual(recorder.inodes, [file.ino])
  }

  func testDefaultAsyncReadCallsTheSyncOne() async throws {
    let (vfs, fs) = try makeVFS()
    let inode = try XCTUnwrap(fs.directory.child.withLock { $0 })
    XCTAssertTrue(inode.hasAsyncOperations)
    let (fh, file) = try await vfs.openAsync(inode, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    let bytes = try await vfs.readAsync(file, count: 4, at: 5)
    XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "read")
    let end = try await vfs.readAsync(file, count: 4, at: 100)
    XCTAssertEqual(end, [])
    // Opened read-only: a write is EBADF before the file system is asked.
    do {
      _ = try await vfs.writeAsync(file, [1], at: 0)
      XCTFail("wrote through a read-only File")
    } catch {
      XCTAssertEqual(error, .EBADF)
    }
  }

  func testDefaultAsyncIterateCallsTheSyncOne() async throws {
    let vfs = try MemfsHarness().vfs
    // memfs is synchronous: its requests never go to a Task.
    XCTAssertFalse(vfs.root.hasAsyncOperations)
    let (fh, file) = try vfs.open(vfs.root, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    let entries = try await vfs.readdirAsync(file, from: 0)
    XCTAssertEqual(entries.map(\.name).prefix(2), [".", ".."])
  }

  /// A LogHandler that keeps what it is given.
  final class Capture: LogHandler, @unchecked Sendable {
    let lines = Mutex<[(Logger.Level, String)]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
      lines.withLock {
        $0.append((event.level, "\(event.message) \(event.metadata?["errno"] ?? "-")"))
      }
    }
  }

  func testLogLinesForRequestsAndFailures() {
    let capture = Capture()
    let logger = Logger(label: "test") { _ in capture }
    func record(_ opcode: String, _ error: Errno?) -> RequestStats.Record {
      RequestStats.Record(
        opcode: opcode, operation: "-", ino: 7, detail: "x", fileSystem: "fakefs", error: error,
        latencyNanos: 1000)
    }
    FuseBridge.log(record("GETATTR", nil), to: logger)
    FuseBridge.log(record("READ", .EIO), to: logger)
    FuseBridge.log(record("LOOKUP", .ENOENT), to: logger)
    let lines = capture.lines.withLock { $0 }
    XCTAssertEqual(lines.map(\.0), [.debug, .debug, .warning, .debug])
    XCTAssertEqual(lines[0].1, "GETATTR ino=7 x -> ok -")
    XCTAssertEqual(lines[2].1, "READ ino=7 x failed: EIO (5) EIO")
  }
}
