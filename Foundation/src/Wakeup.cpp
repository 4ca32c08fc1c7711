// Wakeup.cpp
