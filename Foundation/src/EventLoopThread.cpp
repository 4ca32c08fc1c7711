// EventLoopThread.cpp
