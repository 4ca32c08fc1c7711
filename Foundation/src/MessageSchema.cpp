// MessageSchema.cpp
