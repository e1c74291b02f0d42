print("vfsprobe")
