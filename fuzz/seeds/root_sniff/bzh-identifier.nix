BZhelper: BZhelper
