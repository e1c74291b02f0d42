import Dispatch
import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// A VFS mounted by a `FuseSession` inside the test process, its loop on a
/// thread of its own: for tests that register drivers or build trees in
/// process. `stop` unmounts lazily from outside (the test process is the
/// client too), waits for the loop, and only then closes the session; if the
/// loop does not end, it aborts the connection rather than hang.
final class InProcessMount {
  let path: String
  let session: FuseSession
  private let loopEnded = DispatchSemaphore(value: 0)
  private var stopped = false

  /// Mounts `vfs` on a new temporary directory; `name` is its prefix and the
  /// mount's fsname.
  init(vfs: VFS, name: String) throws {
    path = try makeTempDir(name)
    do {
      session = try FuseSession(
        bridge: FuseBridge(vfs: vfs, options: FuseBridge.Options()), mountPoint: path,
        kernelOptions: ["fsname=\(name)", "default_permissions"])
    } catch {
      rmdir(path)
      throw error
    }
    // The loop thread is the session's only other user until `stop`.
    struct Loop: @unchecked Sendable { let session: FuseSession }
    let loop = Loop(session: session)
    let ended = loopEnded
    Thread {
      let engine = testEngine.flatMap { FuseSession.Engine(rawValue: $0) } ?? .native
      let transport =
        testTransport.flatMap { FuseSession.Transport(rawValue: $0) } ?? .readWrite
      _ = loop.session.run(loop: .threaded, engine: engine, transport: transport)
      ended.signal()
    }.start()
  }

  /// Unmounts and removes the directory. Returns nil, or what went wrong:
  /// the unmount failed, or the loop did not end within 30 s after it (the
  /// connection is then aborted and the session left alone).
  @discardableResult
  func stop() -> String? {
    guard !stopped else { return nil }
    stopped = true
    // Read before the lazy unmount, after which the mount is not listed.
    let info = MountInfo.at(path)
    var failure: String?
    if umount2(path, Int32(MNT_DETACH)) != 0 { failure = "umount: \(errnoName(errno))" }
    if loopEnded.wait(timeout: .now() + 30) == .timedOut {
      if let info { abortConnection(minor: info.minor) }
      failure = failure ?? "the loop did not end after the unmount"
    } else {
      session.close()
    }
    rmdir(path)
    return failure
  }

  deinit { stop() }
}
