/// Cache invalidation for file systems whose content changes on their own
/// (a remote backend, a clock, another process): the kernel above caches
/// names for `entryTimeout` and attributes and pages for `attrTimeout` (an
/// hour by default) and would go on showing the old state. These tell it,
/// and the VFS's own dcache, to forget.
///
/// They reach the layer above through the observer the FUSE bridge installs
/// for char-node views (`DeviceNodeViewObserver`): it sends each
/// notification from a thread of its own, so they may be called from
/// anywhere, inside an operation too, and return before the kernel has
/// acted (the kernel takes the directory's lock to drop an entry, which a
/// request in progress may hold). With no mount above, only the VFS's
/// dcache is dropped.
extension VFS {
  /// Forget what `name` in `dir` names: the VFS's dcache entry (positive or
  /// negative) and the kernel's. The next path walk through it looks it up
  /// again. Use it when a name appears, disappears or names another inode.
  ///
  /// Linux: d_invalidate(); FUSE: fuse_lowlevel_notify_inval_entry().
  public func invalidate(entry name: FileName, in dir: Inode) {
    dcache.drop(parentIno: dir.ino, name: name)
    deviceNodeViews.observer?.deviceNodeViewsChanged([
      DeviceNodeName(parent: dir.ino, name: name, ino: 0)
    ])
  }

  /// Forget the kernel's cached attributes and pages of `inode`: the next
  /// stat asks again, and the next read of a file opened with `keepCache`
  /// reads again. Use it when a file's content or size changed.
  ///
  /// Linux: invalidate_inode_pages2(); FUSE: fuse_lowlevel_notify_inval_inode().
  public func invalidate(inode: Inode) {
    deviceNodeViews.observer?.inodeChanged(inode.ino)
  }
}
