// EventLoop.cpp
