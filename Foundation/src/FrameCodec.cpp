// FrameCodec.cpp
