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
// The nodes asked for and not yet removed are kept, so that a devtmpfs
// mounted after the devices (ext2's loop0 is added before /dev is mounted
// over it) makes them all, as the kernel's devtmpfs shows every device
// added since boot.
//
// Locking: `lock` guards the handler and the live requests; the handler
// runs without the lock (it takes the devtmpfs superblock's namespace lock).

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
  private var live: [String: Request] = [:]  // creates not deleted since, by name
  private var replayPending = false

  /// No handler: requests are kept for one installed later.
  public init() {}

  /// Installs the handler that makes and removes the nodes (nil removes it).
  /// devtmpfs installs one when it is mounted; once the mount is attached,
  /// the VFS replays the nodes asked for before (`replayAfterInstall`).
  public func install(_ handler: Handler?) {
    lock.withLock {
      self.handler = handler
      replayPending = handler != nil
    }
  }

  /// Makes, once after each `install`, every node asked for and not removed
  /// since, in name order; errors are ignored, as the driver core ignores
  /// devtmpfs's. The VFS calls it when a mount is attached.
  package func replayAfterInstall() {
    let (installed, requests) = lock.withLock { () -> (Handler?, [Request]) in
      guard replayPending else { return (nil, []) }
      replayPending = false
      return (handler, live.keys.sorted().compactMap { live[$0] })
    }
    guard let installed else { return }
    for request in requests { try? installed(request) }
  }

  /// Whether a handler is installed (a /dev will get the nodes).
  public var hasHandler: Bool { lock.withLock { handler != nil } }

  /// Passes `request` to the handler, and its error back. Without a handler
  /// it only keeps a create for a later one, and succeeds, as devtmpfs_create_node() returns 0 in a
  /// kernel with no devtmpfs mounted: the device works, it has no node.
  public func submit(_ request: Request) throws(Errno) {
    let installed = lock.withLock { () -> Handler? in
      switch request {
      case .create(let name, _, _, _):
        live[name] = request
      case .delete(let name, let dev, let type):
        if case .create(_, dev, type, _)? = live[name] { live[name] = nil }
      }
      return handler
    }
    guard let installed else { return }
    try installed(request)
  }
}
