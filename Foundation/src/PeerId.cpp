// PeerId.cpp
