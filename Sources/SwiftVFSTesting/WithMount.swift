import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// Mounts `vfs` on a new temporary directory, runs `body` with its path, and
/// always unmounts and removes the directory, even when `body` throws.
///
/// For XCTest and Swift Testing alike (needs root and /dev/fuse):
///
/// ```swift
/// try withMount(vfs) { path in
///   XCTAssertEqual(try String(contentsOfFile: path + "/hello"), "Hello\n")
/// }
/// ```
///
/// The file system is served in this very process, so close every file of
/// the mount before `body` returns: teardown unmounts lazily (files still
/// open keep being served), waits for the loop with a timeout
/// (`options.unmountTimeout`), and aborts the connection if a file was left
/// open, rather than hang. `body`'s error is rethrown first; an unmount that
/// failed is thrown when `body` succeeded.
///
/// From async code with a body that awaits nothing, Swift picks this
/// variant; it blocks the calling thread only while it unmounts.
public func withMount<Result>(
  _ vfs: VFS, options: FuseMount.Options = FuseMount.Options(),
  _ body: (String) throws -> Result
) throws -> Result {
  let directory = try TemporaryMountPoint()
  defer { directory.remove() }
  let mount = try FuseMount(vfs, at: directory.path, options: options)
  mount.start()
  let result: Swift.Result<Result, any Error>
  do {
    result = .success(try body(mount.path))
  } catch {
    result = .failure(error)
  }
  let unmounted = Swift.Result { () throws(MountError) in try mount.unmountBlocking() }
  let value = try result.get()
  try unmounted.get()
  return value
}

/// `withMount` for an async `body`: awaits it, then unmounts without
/// blocking a Swift concurrency thread.
public func withMount<Result>(
  _ vfs: VFS, options: FuseMount.Options = FuseMount.Options(),
  isolation: isolated (any Actor)? = #isolation,
  _ body: (String) async throws -> Result
) async throws -> Result {
  let directory = try TemporaryMountPoint()
  defer { directory.remove() }
  let mount = try FuseMount(vfs, at: directory.path, options: options)
  mount.start()
  let result: Swift.Result<Result, any Error>
  do {
    result = .success(try await body(mount.path))
  } catch {
    result = .failure(error)
  }
  var unmountError: MountError?
  do {
    try await mount.unmount()
  } catch {
    unmountError = error
  }
  let value = try result.get()
  if let unmountError { throw unmountError }
  return value
}

/// A new empty directory under $TMPDIR (or /tmp), removed by `remove()`.
struct TemporaryMountPoint {
  let path: String

  init() throws(MountError) {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(base)/swiftvfs-mount-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
      throw MountError(.mountPointCheck, Errno(errno), path: base)
    }
    path = String(cString: made)
  }

  func remove() { rmdir(path) }
}
