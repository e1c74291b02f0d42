print("vfsmount")
