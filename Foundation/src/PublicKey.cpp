// PublicKey.cpp
