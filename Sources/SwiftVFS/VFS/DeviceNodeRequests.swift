// Device nodes asked for by layers that cannot see devtmpfs, like the driver
// core's device_add() → devtmpfs_create_node() and device_del() →
// devtmpfs_delete_node() (drivers/base/core.c, drivers/base/devtmpfs.c):
// add_disk() in the block layer does not know devtmpfs, it adds a device,
// and devtmpfs, if there is one, makes the node.
//
// Why a hook and not an import: devtmpfs lives in the file systems' target,
// and the block layer must stay below the file systems (ext2, a file system,
// reads through the page cache and block devices), so the block layer cannot
// import devtmpfs without a cycle. The core carries the request; devtmpfs
// installs the handler when it is mounted.
//
// Locking: `lock` guards the handler only; it runs without the lock (it
// takes the devtmpfs superblock's namespace lock).

/// Requests for /dev nodes from layers below the file systems (``VFS/deviceNodeRequests``).
public final class DeviceNodeRequests: @unchecked Sendable {
  /// One node to make or remove.
  public enum Request: Sendable, Equatable {
    /// Make the node `name` for `dev`, of `type` (char or block) with
    /// permission bits `mode`, owned by root (devtmpfs_create_node()).
    case create(name: String, dev: DevT, type: FileType, mode: UInt32)
    /// Remove the node `name` if it is still the node of `dev` and `type`
    /// (devtmpfs_delete_node(), which checks dev_mynode()).
    case delete(name: String, dev: DevT, type: FileType)
  }

  /// What serves the requests: devtmpfs.
  public typealias Handler = @Sendable (Request) throws(Errno) -> Void

  private let lock = Lock()
  private var handler: Handler?

  /// No handler: requests are dropped.
  public init() {}

  /// Installs the handler that makes and removes the nodes (nil removes it).
  /// devtmpfs installs one when it is mounted.
  public func install(_ handler: Handler?) {
    lock.withLock { self.handler = handler }
  }

  /// Whether a handler is installed (a /dev will get the nodes).
  public var hasHandler: Bool { lock.withLock { handler != nil } }

  /// Passes `request` to the handler, and its error back. Without a handler
  /// it does nothing and succeeds, as devtmpfs_create_node() returns 0 in a
  /// kernel with no devtmpfs mounted: the device works, it has no node.
  public func submit(_ request: Request) throws(Errno) {
    guard let handler = lock.withLock({ handler }) else { return }
    try handler(request)
  }
}
