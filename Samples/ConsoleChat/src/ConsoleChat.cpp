// ConsoleChat.cpp
